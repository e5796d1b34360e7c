"""``llm-orchestrator prices import FILE`` and ``llm-orchestrator prices show MODEL``.

``import`` reads a LiteLLM ``model_prices_and_context_window.json`` the user has (nothing is
downloaded), converts it to Forge's per-million-token prices and writes it as the user's prices
file, which Forge layers over its bundled table (settings' ``prices`` still win).  ``show`` prints
what Forge would charge for a model: its family, where the price comes from, the standard and
batch rates and the long-context tier.  A bad file is a one-line error with exit code 1, never a
traceback.

Hooked into the typer app by ``llm_orchestrator.cli``:

    from llm_orchestrator.cli_prices import prices_app
    app.add_typer(prices_app, name="prices")
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llm_orchestrator.cli_support import fail

prices_app = typer.Typer(help="Model prices: import a LiteLLM price file, show a model's prices.", no_args_is_help=True)


@prices_app.command("import")
def import_prices(
    file: Annotated[Path, typer.Argument(help="LiteLLM's model_prices_and_context_window.json (a local file).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of the user prices file.")
    ] = None,
) -> None:
    """Import a LiteLLM price file as your prices file (Forge reads it over its bundled prices)."""
    from ecosystem.forge.errors import PriceFileError
    from ecosystem.forge.litellm_prices import read_litellm_prices, write_user_prices

    try:
        result = read_litellm_prices(file)
        written = write_user_prices(
            result.prices, f"Imported from the LiteLLM price file {file.name} by `llm-orchestrator prices import`",
            output,
        )
    except PriceFileError as exc:
        raise fail(exc.message) from None
    kinds = sum(1 for price in result.prices.values() if price.kind == "embedding")
    skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(result.skipped.items()))
    typer.echo(
        f"imported {len(result.prices)} models ({len(result.prices) - kinds} chat, {kinds} embedding) from {file}"
    )
    if skipped:
        typer.echo(f"skipped: {skipped}")
    typer.echo(f"wrote {written}")


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4f}".rstrip("0").rstrip(".")


@prices_app.command("show")
def show(
    model: Annotated[str, typer.Argument(help="A model id, dated or not (claude-sonnet-4-5-20250929).")],
    prompt_tokens: Annotated[
        int, typer.Option("--prompt-tokens", min=0, help="Price a prompt of this size (decides the tier).")
    ] = 0,
) -> None:
    """Show the prices Forge uses for a model (USD per million tokens)."""
    from ecosystem.forge.prices import PriceTable

    table = PriceTable()
    found = table.resolve(model)
    if found is None:
        raise fail(
            f"no price known for model {model!r}: add it with `llm-orchestrator prices import FILE` "
            "or the Forge prices setting"
        )
    family, price = found
    console = Console(highlight=False)
    origin = table.origin.get(family, "bundled")
    dated = f", table as of {table.as_of}" if origin == "bundled" else ""
    console.print(f"[bold]{family}[/bold] ({price.provider or 'unknown provider'}, {price.kind}; {origin}{dated})")
    grid = Table("tier", "input", "output", "cache read", "cache write", title="USD per million tokens")
    long = price.long_context
    sizes = [(0, "")] + ([(long.above + 1, f", prompt > {long.above:,}")] if long else [])
    applies = (prompt_tokens > long.above) if long else False
    for tier in ("standard", "batch"):
        for tokens, label in sizes:
            found_rates = table.rates(model, tokens, tier)
            if found_rates is None:
                continue
            rates = found_rates[1]
            mark = " *" if prompt_tokens and (bool(label) == applies) else ""
            grid.add_row(
                f"{tier}{label}{mark}",
                _money(rates.input),
                _money(rates.output),
                _money(rates.cache_read),
                _money(rates.cache_write),
            )
    console.print(grid)
    if prompt_tokens:
        console.print(f"* the rows a {prompt_tokens:,}-token prompt is billed at (every token of the request)")
