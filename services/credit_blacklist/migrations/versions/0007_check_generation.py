"""check generation: what the check's in-process negative cache needs to know it is current (#22, item 5)

`check_generation` is one row, a counter; `check_listable` names, by the counter's value, each blind
index that came to stand under an entry that may be listed (an entry inserted in a status that is
not final, a final entry brought back, or an entry's blind index changed). A trigger on `entries`
writes both in the transaction that makes the change, whichever process makes it (the consumer
applying a verdict, an officer's request, the sweep, a repair script), so a reader that has seen
generation G has seen every such change committed before G was. On PostgreSQL the counter's row
lock orders the changes by commit: a later generation is never committed before an earlier one.

Final statuses (revoked, expired, repaired) are written out here as they are in the domain today;
any other status, one added later included, counts as one that may be listed: the safe side.

Revision ID: credit_blacklist_0007
Revises: credit_blacklist_0006
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "credit_blacklist_0007"
down_revision = "credit_blacklist_0006"
branch_labels = None
depends_on = None

FINAL = "('revoked', 'expired', 'repaired')"
# The same change logged under the next generation, in both dialects' trigger bodies.
_BUMP = ("UPDATE check_generation SET generation = generation + 1 WHERE id = 1; "
         "INSERT INTO check_listable (generation, blind_index) "
         "SELECT generation, NEW.blind_index FROM check_generation WHERE id = 1;")


def upgrade() -> None:
    op.create_table(
        "check_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_check_generation"),
    )
    op.create_table(
        "check_listable",
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("blind_index", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("generation", name="pk_check_listable"),
    )
    op.execute(sa.text("INSERT INTO check_generation (id, generation) VALUES (1, 0)"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(f"""
CREATE FUNCTION entries_check_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status NOT IN {FINAL} AND (TG_OP = 'INSERT' OR OLD.status IN {FINAL}
                                      OR OLD.blind_index IS DISTINCT FROM NEW.blind_index) THEN
        {_BUMP}
    END IF;
    RETURN NULL;
END $$"""))
        op.execute(sa.text("CREATE TRIGGER entries_check_generation AFTER INSERT OR UPDATE ON entries "
                           "FOR EACH ROW EXECUTE FUNCTION entries_check_generation()"))
    else:
        op.execute(sa.text(f"CREATE TRIGGER entries_check_generation_insert AFTER INSERT ON entries "
                           f"WHEN NEW.status NOT IN {FINAL} BEGIN {_BUMP} END"))
        op.execute(sa.text(f"CREATE TRIGGER entries_check_generation_update AFTER UPDATE ON entries "
                           f"WHEN NEW.status NOT IN {FINAL} AND (OLD.status IN {FINAL} "
                           f"OR OLD.blind_index IS NOT NEW.blind_index) BEGIN {_BUMP} END"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP TRIGGER entries_check_generation ON entries"))
        op.execute(sa.text("DROP FUNCTION entries_check_generation()"))
    else:
        op.execute(sa.text("DROP TRIGGER entries_check_generation_insert"))
        op.execute(sa.text("DROP TRIGGER entries_check_generation_update"))
    op.drop_table("check_listable")
    op.drop_table("check_generation")
