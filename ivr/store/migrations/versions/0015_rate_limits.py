"""security: reset lockouts per calling number, and rate-limit windows for the API

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'rate_windows',
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_rate_windows')),
    )
    with op.batch_alter_table('reset_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caller', sa.String(length=32), nullable=True))
        batch_op.create_index(
            'ix_reset_attempts_account_caller_at', ['account_id', 'caller', 'at'], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('reset_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_reset_attempts_account_caller_at')
        batch_op.drop_column('caller')
    op.drop_table('rate_windows')
