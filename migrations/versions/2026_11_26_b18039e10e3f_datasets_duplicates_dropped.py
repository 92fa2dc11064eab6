"""datasets: how many exact duplicates a build dropped (NULL: it kept them)

Revision ID: b18039e10e3f
Revises: 5c0e7a1b9d42
Create Date: 2026-11-26 09:20:30.034089
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate renders SQLModel's AutoString)
from alembic import op

import tunix_rt.models  # noqa: F401  (custom column types referenced below)


# revision identifiers, used by Alembic.
revision: str = 'b18039e10e3f'
down_revision: str | None = '5c0e7a1b9d42'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duplicates_dropped', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('duplicates_dropped')
