"""agents: who accepted a waiting call, its wrap-up, who acted on a call or a callback

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:50:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepted_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('agent_phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('disposition', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('wrap_notes', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('wrapped_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_calls_accepted_by_users'), 'users', ['accepted_by'], ['id']
        )
    with op.batch_alter_table('call_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_call_events_user_id_users'), 'users', ['user_id'], ['id']
        )
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_try_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('done_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_callbacks_agent_id_users'), 'users', ['agent_id'], ['id']
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_callbacks_agent_id_users'), type_='foreignkey')
        batch_op.drop_column('done_at')
        batch_op.drop_column('last_try_at')
        batch_op.drop_column('agent_id')
    with op.batch_alter_table('call_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_call_events_user_id_users'), type_='foreignkey')
        batch_op.drop_column('user_id')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_calls_accepted_by_users'), type_='foreignkey')
        batch_op.drop_column('wrapped_at')
        batch_op.drop_column('wrap_notes')
        batch_op.drop_column('disposition')
        batch_op.drop_column('agent_phone')
        batch_op.drop_column('accepted_at')
        batch_op.drop_column('accepted_by')
