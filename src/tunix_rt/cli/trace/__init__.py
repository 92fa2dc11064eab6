"""`tunix-rt trace ...`: one module per command.

Each command module parses its options, makes one service call and prints; heavy imports
(SQLAlchemy, Rich, the services) happen inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Upload, list, show, tag and delete reasoning traces.", no_args_is_help=True)

from tunix_rt.cli.trace import compare as _compare  # noqa: E402
from tunix_rt.cli.trace import contamination as _contamination  # noqa: E402
from tunix_rt.cli.trace import delete as _delete  # noqa: E402
from tunix_rt.cli.trace import dupes as _dupes  # noqa: E402
from tunix_rt.cli.trace import example as _example  # noqa: E402
from tunix_rt.cli.trace import export as _export  # noqa: E402
from tunix_rt.cli.trace import lint as _lint  # noqa: E402
from tunix_rt.cli.trace import list as _list  # noqa: E402
from tunix_rt.cli.trace import schema as _schema  # noqa: E402
from tunix_rt.cli.trace import score as _score  # noqa: E402
from tunix_rt.cli.trace import show as _show  # noqa: E402
from tunix_rt.cli.trace import stats as _stats  # noqa: E402
from tunix_rt.cli.trace import tag as _tag  # noqa: E402
from tunix_rt.cli.trace import upload as _upload  # noqa: E402

app.command("upload")(_upload.upload)
app.command("list")(_list.list_traces)
app.command("show")(_show.show)
app.add_typer(_tag.app, name="tag")
app.command("tags")(_tag.list_tags)
app.command("delete")(_delete.delete)
app.command("stats")(_stats.stats)
app.command("example")(_example.example)
app.command("schema")(_schema.schema)
app.command("export")(_export.export)
app.command("lint")(_lint.lint)
app.command("contamination")(_contamination.contamination)
app.command("dupes")(_dupes.dupes)
app.command("compare")(_compare.compare)
app.command("score")(_score.score)
