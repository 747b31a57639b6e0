"""Every SQL statement lives in warehouse/: the product packages call its typed functions.

Benchmarks (bench/) keep the SQL that fills their warehouses; tests may read tables directly.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCT = (
    "ingest",
    "streams",
    "delivery",
    "recommender",
    "dashboards",
    "foundation",
    "schemas",
    "qoe",
    "evaluation",
    "player-sdk/python",
)
SQL = re.compile(
    r"\b(?:SELECT|INSERT\s+INTO|ALTER\s+TABLE|CREATE\s+(?:TABLE|DATABASE|DICTIONARY|(?:MATERIALIZED\s+)?VIEW)"
    r"|DROP\s+(?:TABLE|VIEW|DATABASE)|TRUNCATE\s+TABLE|OPTIMIZE\s+TABLE|DELETE\s+FROM|DESCRIBE\s+TABLE|EXPLAIN)\s"
)
# A table named outside warehouse/ is a second reader or writer of it. "views" is left out: it is
# also the everyday word for a count of views, in JSON keys and column titles.
TABLES = {
    name
    for path in (REPO / "warehouse" / "migrations").glob("*.sql")
    for name in re.findall(r"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS (\w+)", path.read_text())
} - {"views", "properties"}
# clickhouse-connect's client methods: nothing else has these names.
CLIENT_METHODS = {"query_df", "query_df_stream", "query_arrow", "query_np", "raw_query", "raw_insert", "insert_df"}
# Generic names, flagged when their first argument is a literal table name or statement.
CLIENT_METHODS_WITH_TEXT = {"query", "insert", "command"}


def _comment_strings(tree: ast.AST) -> set[int]:
    """ids of the string constants that stand alone as statements: docstrings, never SQL."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def _warehouse_call(node: ast.Call) -> bool:
    if not isinstance(node.func, ast.Attribute):
        return False
    if node.func.attr in CLIENT_METHODS:
        return True
    first = node.args[0] if node.args else None
    text = isinstance(first, ast.JoinedStr) or (isinstance(first, ast.Constant) and isinstance(first.value, str))
    return node.func.attr in CLIENT_METHODS_WITH_TEXT and text


def sql_lines(source: str) -> list[int]:
    """Lines of ``source`` (Python) with SQL text in a string literal or a call of a warehouse client."""
    tree = ast.parse(source)
    comments = _comment_strings(tree)
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in comments:
            if SQL.search(node.value) or node.value in TABLES:
                lines.add(node.lineno)
        elif isinstance(node, ast.Call) and _warehouse_call(node):
            lines.add(node.lineno)
    return sorted(lines)


def test_the_scanner_finds_planted_sql_and_nothing_else() -> None:
    planted = '''"""A docstring may say SELECT * FROM views."""
rows = client.query("SELECT count() FROM views")
sql = f"INSERT INTO {table} FORMAT JSONEachRow"
client.insert("steering_decisions", rows, column_names=names)
frame = client.query_df(sql)
client.command(
    "ALTER TABLE views ADD INDEX i viewer_id TYPE bloom_filter"
)
note = "#EXT-X-MEDIA:DEFAULT=YES,AUTOSELECT=YES"
words = "select the view, then insert it"
pending.insert(0, item)
text = "CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = Memory"
TABLE = "view_deltas"
figures = {"views": 3}
'''
    assert sql_lines(planted) == [2, 3, 4, 5, 6, 7, 12, 13]


def test_no_product_package_outside_warehouse_holds_sql() -> None:
    found = []
    for package in PRODUCT:
        for path in sorted((REPO / package).rglob("*.py")):
            found += [f"{path.relative_to(REPO)}:{line}" for line in sql_lines(path.read_text())]
        found += [
            f"{path.relative_to(REPO)}: DDL belongs in warehouse/migrations/"
            for path in (REPO / package).rglob("*.sql")
        ]
    assert not found, "SQL outside warehouse/ (add a typed function to a warehouse module):\n" + "\n".join(found)
