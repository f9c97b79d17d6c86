"""seq order: each boot's stored order, so a later batch's votes keep to it

``boot_dating`` gains ``seq_max`` and ``seq_max_mono_ns``: the highest ``seq`` among the
boot's stored votes that passed every check of ``district.clock``, and that vote's BOOTTIME.
A vote of a later batch of the same boot with a higher ``seq`` and a smaller BOOTTIME (or a
lower ``seq`` and a larger one) is marked ``seq_order``, as within one batch. Existing rows
start without (the order is known again from the boot's next batch).

Revision ID: d0014
Revises: d0009 (and needs d0007)
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "d0014"
down_revision = "d0009"
branch_labels = None
depends_on = "d0007"  # boot_dating is d0007's


def upgrade() -> None:
    op.add_column("boot_dating", sa.Column("seq_max", sa.BigInteger, nullable=True))
    op.add_column("boot_dating", sa.Column("seq_max_mono_ns", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("boot_dating") as batch:
        batch.drop_column("seq_max_mono_ns")
        batch.drop_column("seq_max")
