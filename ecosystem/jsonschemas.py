"""JSON Schemas that arrive in requests are checked locally: no ``$ref`` is ever fetched.

jsonschema follows a ``$ref`` to a URL by downloading it, so a schema in a request (Test-Bench's
``json_schema`` metric, Forge's ``json-extract`` tool) could make a service call any address it
can reach, past the ``http-request`` tool's host allowlist.  ``local_validator`` gives it an empty
registry instead: a reference outside the schema is ``Unresolvable``, which callers report as the
caller's mistake.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import referencing
import referencing.exceptions

Unresolvable = referencing.exceptions.Unresolvable


def local_validator(schema: Any, format_checker: Any = None) -> Any:
    """A validator for ``schema`` (its draft's class) that resolves only references inside it."""
    return jsonschema.validators.validator_for(schema)(schema, registry=referencing.Registry(),
                                                       format_checker=format_checker)
