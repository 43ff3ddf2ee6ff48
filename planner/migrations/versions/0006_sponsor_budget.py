"""sponsor budget: work order lines (with change orders) and timesheets

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('work_order_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_pk', sa.Integer(), nullable=False),
    sa.Column('service_line', sa.Enum('project_management', 'site_management', 'data_management', 'biostatistics', 'medical_writing', 'pharmacovigilance', 'regulatory', 'pass_through', name='service_line', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('driver', sa.Enum('months', 'sites_activated', 'monitoring_visits', 'subjects_randomized', 'crf_pages', 'deliverables', 'fixed', name='budget_driver', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('units', sa.Numeric(precision=14, scale=2).with_variant(sa.String(length=40), 'sqlite'), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=18, scale=2).with_variant(sa.String(length=40), 'sqlite'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('change_order', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['study_pk'], ['study.id'], name=op.f('fk_work_order_line_study_pk_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_line')),
    # named by hand, as in the model: the table's key, whatever the convention makes
    sa.UniqueConstraint('study_pk', 'service_line', 'change_order', name=op.f('uq_work_order_line_key'))
    )

    op.create_table('timesheet',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_pk', sa.Integer(), nullable=False),
    sa.Column('study_pk', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('hours', sa.Numeric(precision=5, scale=2).with_variant(sa.String(length=40), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['staff_pk'], ['staff.id'], name=op.f('fk_timesheet_staff_pk_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_pk'], ['study.id'], name=op.f('fk_timesheet_study_pk_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timesheet')),
    sa.UniqueConstraint('staff_pk', 'study_pk', 'month', name=op.f('uq_timesheet_staff_pk_study_pk_month'))
    )
    with op.batch_alter_table('timesheet', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timesheet_study_pk'), ['study_pk'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('timesheet', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timesheet_study_pk'))

    op.drop_table('timesheet')
    op.drop_table('work_order_line')
