"""trace scores

Revision ID: 5c0e7a1b9d42
Revises: d048f274c71d
Create Date: 2026-11-26 07:38:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate renders SQLModel's AutoString)
from alembic import op

import tunix_rt.models  # noqa: F401  (custom column types referenced below)


# revision identifiers, used by Alembic.
revision: str = '5c0e7a1b9d42'
down_revision: str | None = 'd048f274c71d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trace_scores',
    sa.Column('trace_id', sa.Uuid(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('created_at', tunix_rt.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['trace_id'], ['traces.id'], name=op.f('fk_trace_scores_trace_id_traces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('trace_id', 'name', 'step', name=op.f('pk_trace_scores'))
    )
    with op.batch_alter_table('trace_scores', schema=None) as batch_op:
        batch_op.create_index('ix_trace_scores_name', ['name', 'value', 'trace_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('trace_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_trace_scores_name')

    op.drop_table('trace_scores')
