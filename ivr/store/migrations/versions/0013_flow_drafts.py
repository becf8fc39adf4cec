"""flow drafts: admins' unpublished changes to a flow or a language's prompts

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'flow_drafts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('base_version', sa.Integer(), nullable=False),
        sa.Column('problems', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_drafts')),
        sa.UniqueConstraint('kind', 'name', name='uq_flow_drafts_kind_name'),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('flow_drafts')
