"""Start bqemulator (run with the emulator's own interpreter, .venv-bqemulator/bin/python).

Two gaps of bqemulator 1.4 are closed before the server starts; everything else is the emulator as
released, and README "Production" names both:

* the official Python client sends the media part of a load upload as ``*/*``, which BigQuery
  accepts and the emulator rejects ("unsupported Content-Type '*/*'");
* the emulator binds ``@name`` placeholders by a regular expression over the whole statement, so a
  parameter named in a comment (Herald's query files say what they take in their first line)
  counts as one more argument ("Parameter argument/count mismatch"). BigQuery ignores comments.
"""

import re
import sys

from bqemulator.api.routes import upload
from bqemulator.cli import main
from bqemulator.jobs import executor

upload._PERMITTED_MEDIA_CONTENT_TYPES = (*upload._PERMITTED_MEDIA_CONTENT_TYPES, "*/*")

_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.DOTALL)
_bind = executor.bind_parameters


def _bind_outside_comments(sql, query_parameters=None):
    return _bind(_COMMENT.sub(" ", sql), query_parameters)


executor.bind_parameters = _bind_outside_comments

if __name__ == "__main__":
    sys.argv[0] = "bqemulator"
    main()
