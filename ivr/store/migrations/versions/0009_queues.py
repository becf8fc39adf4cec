"""queues: the hold line's outcomes on calls, callbacks, after-hours voicemails

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 23:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('dequeued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('queue_result', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('queue_wait_s', sa.Integer(), nullable=True))
        batch_op.create_index('ix_calls_queue_dequeued_at', ['queue', 'dequeued_at'], unique=False)

    op.create_table('callbacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_sid', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('queue', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('place_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callbacks')),
    sa.UniqueConstraint('call_sid', name=op.f('uq_callbacks_call_sid'))
    )
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callbacks_status'), ['status'], unique=False)

    op.create_table('voicemails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_sid', sa.String(length=64), nullable=False),
    sa.Column('recording_sid', sa.String(length=64), nullable=False),
    sa.Column('recording_url', sa.String(length=300), nullable=True),
    sa.Column('duration_s', sa.Integer(), nullable=True),
    sa.Column('queue', sa.String(length=40), nullable=True),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voicemails')),
    sa.UniqueConstraint('recording_sid', name=op.f('uq_voicemails_recording_sid'))
    )
    with op.batch_alter_table('voicemails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voicemails_call_sid'), ['call_sid'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('voicemails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voicemails_call_sid'))
    op.drop_table('voicemails')
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callbacks_status'))
    op.drop_table('callbacks')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_queue_dequeued_at')
        batch_op.drop_column('queue_wait_s')
        batch_op.drop_column('queue_result')
        batch_op.drop_column('dequeued_at')
        batch_op.drop_column('enqueued_at')
