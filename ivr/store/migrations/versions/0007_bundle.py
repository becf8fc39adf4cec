"""flow versions hold prompts and criteria: one immutable bundle per version

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-06 20:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Versions published before this one stay NULL: they keep speaking the files on disk,
    # and the next `ivr publish-flows` publishes the whole bundle as a new version.
    with op.batch_alter_table('flow_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prompts', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('criteria', sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('flow_versions', schema=None) as batch_op:
        batch_op.drop_column('criteria')
        batch_op.drop_column('prompts')
