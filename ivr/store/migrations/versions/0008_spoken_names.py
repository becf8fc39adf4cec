"""spoken names: how the line says an exam or a provider, apart from its written name

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # NULL: the written name is said as it is. `ivr seed` fills them from data/*.csv.
    with op.batch_alter_table('exam_types', schema=None) as batch_op:
        batch_op.add_column(sa.Column('spoken', sa.String(length=200), nullable=True))
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('spoken', sa.String(length=120), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.drop_column('spoken')
    with op.batch_alter_table('exam_types', schema=None) as batch_op:
        batch_op.drop_column('spoken')
