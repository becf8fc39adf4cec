"""console: sign-in attempts (the rate limit shared by every worker) and a user's last sign-in

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:50:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('sign_in_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_attempts'))
    )
    with op.batch_alter_table('sign_in_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_sign_in_attempts_address_at', ['address', 'at'], unique=False)
        batch_op.create_index('ix_sign_in_attempts_username_at', ['username', 'at'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('last_sign_in_at')
    with op.batch_alter_table('sign_in_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_sign_in_attempts_username_at')
        batch_op.drop_index('ix_sign_in_attempts_address_at')
    op.drop_table('sign_in_attempts')
