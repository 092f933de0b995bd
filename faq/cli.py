"""`otklik faq ...`: check, test, ask, eval and gaps, for content staff and CI.

The root `otklik` group may put these into `ctx.meta` (shared by all subcommands):
`FAQ_PATH_KEY` (the configured `faq.path`), `MATCHER_SETTINGS_KEY` (`faq.matcher`) and
`GAPS_SOURCE_KEY` (an async `GapsSource` reading stored unanswered questions).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from faq.checker import check_faq, describe, test_examples
from faq.evaluation import evaluate, load_cases
from faq.gaps import (
    Cluster,
    EntryFeedback,
    GapsData,
    GapsSource,
    PickedSuggestion,
    UnansweredQuestion,
    close_call_pairs,
    cluster_questions,
    offered_entries,
)
from faq.loader import FaqError, load_faq
from faq.matcher import FaqMatcher, MatchResult
from faq.model import Faq
from faq.semantic import EncoderError
from faq.settings import MatcherSettings

__all__ = ["FAQ_PATH_KEY", "GAPS_SOURCE_KEY", "LANGUAGES_KEY", "MATCHER_SETTINGS_KEY", "faq"]

FAQ_PATH_KEY = "otklik.faq.path"
MATCHER_SETTINGS_KEY = "otklik.faq.matcher"
GAPS_SOURCE_KEY = "otklik.faq.gaps_source"
LANGUAGES_KEY = "otklik.faq.languages"
"""A callable giving the languages the bot speaks, for `faq check`'s warnings."""
DEFAULT_PATH = Path("config/faq")

_lexical_only = click.option(
    "--lexical-only", is_flag=True, help="Skip the semantic stage (faster, less accurate)."
)


@click.group()
def faq() -> None:
    """Keep the FAQ healthy: check files, test examples, try questions, find gaps."""


@faq.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@_lexical_only
@click.pass_context
def check(ctx: click.Context, directory: Path | None, lexical_only: bool) -> None:
    """Report every problem in the FAQ files with file, line and fix. Exit 1 on errors."""
    path = _path(ctx, directory)
    settings = _settings(ctx, lexical_only)
    languages = ctx.meta.get(LANGUAGES_KEY)
    built: list[FaqMatcher] = []

    def build(loaded: Faq) -> FaqMatcher:
        built.append(_matcher(loaded, settings))
        return built[-1]

    report = check_faq(path, build, languages=languages() if languages is not None else None)
    for problem in report.problems:
        click.echo(f"{problem.severity.value}: {problem}", err=True)
    for loan in built[-1].loans if built else ():
        click.echo(
            f"phrasebook: '{loan.topic}' lent to '{loan.entry}' ({loan.phrasings} wordings): "
            f"{loan.share:.0%} of the topic ranked it first, {loan.answered:.0%} answered"
        )
    click.echo(
        f"{path}: {len(report.faq)} entries, {report.faq.phrasing_count} phrasings — "
        f"{_counted(len(report.errors), 'error')}, {_counted(len(report.warnings), 'warning')}"
    )
    if report.errors:
        ctx.exit(1)


@faq.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@_lexical_only
@click.pass_context
def test(ctx: click.Context, directory: Path | None, lexical_only: bool) -> None:
    """Run every entry's `examples` and list those that land elsewhere or nowhere."""
    loaded, matcher = _load(ctx, directory, lexical_only)
    report = test_examples(loaded, matcher)
    for failure in report.failures:
        click.echo(
            f"{failure.case.where}: «{failure.case.q}» should match '{failure.case.expect}' "
            f"but {describe(failure)}"
        )
    click.echo(f"{report.correct}/{report.total} examples match their entry")
    if report.failures:
        ctx.exit(1)


@faq.command()
@click.argument("text")
@click.option("--faq", "directory", type=click.Path(path_type=Path), help="FAQ folder.")
@click.option("--language", default=None, help="Shopper's language code (ru, en).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_lexical_only
@click.pass_context
def ask(
    ctx: click.Context,
    *,
    text: str,
    directory: Path | None,
    language: str | None,
    as_json: bool,
    lexical_only: bool,
) -> None:
    """Show what the bot would do with TEXT and the best entries with scores."""
    loaded, matcher = _load(ctx, directory, lexical_only)
    result = matcher.match(text, language)
    if as_json:
        click.echo(json.dumps(_result_json(result), ensure_ascii=False))
        return
    kind = f" ({result.smalltalk})" if result.smalltalk else ""
    click.echo(f"{result.outcome.value}{kind}")
    for match in result.matches:
        entry = loaded.entries[match.entry_id]
        click.echo(f"  {match.score:.2f}  {match.entry_id}  «{entry.questions[0]}»")
    for match in result.also:
        click.echo(f"  offered under the answer: {match.entry_id} (nearly as close)")


@faq.command(name="eval")
@click.argument(
    "cases", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--faq", "directory", type=click.Path(path_type=Path), help="FAQ folder.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_lexical_only
@click.pass_context
def eval_(
    ctx: click.Context,
    cases: tuple[Path, ...],
    directory: Path | None,
    as_json: bool,
    lexical_only: bool,
) -> None:
    """Score the matcher on CASES files (lists of {q: text, expect: id-or-null})."""
    _, matcher = _load(ctx, directory, lexical_only)
    try:
        loaded_cases = load_cases(cases)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    report = evaluate(matcher.match, loaded_cases)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    for failure in report.failures:
        click.echo(
            f"{failure.verdict.value:>10}  {failure.case.where}  «{failure.case.q}» "
            f"expected {failure.case.expect or 'no answer'}, got {describe(failure)}"
        )
    total = max(report.total, 1)
    click.echo(
        f"total {report.total}: correct {report.correct} ({report.correct / total:.1%}), "
        f"wrong {report.wrong} ({report.wrong / total:.1%}), "
        f"unanswered {report.unanswered} ({report.unanswered / total:.1%}), "
        f"of them suggested {report.suggested}"
    )


@faq.command()
@click.option("--since", type=click.DateTime(), default=None, help="Only questions since DATE.")
@click.option(
    "--from-file",
    type=click.Path(exists=True, path_type=Path),
    help="Read questions from a text file (one per line) instead of storage.",
)
@click.option("--limit", default=30, show_default=True, help="Clusters to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def gaps(
    ctx: click.Context, since: datetime | None, from_file: Path | None, limit: int, as_json: bool
) -> None:
    """Group unanswered questions into clusters, most asked first, with 👍/👎 per entry.

    Unanswered: only suggestions, nothing, or a close call (an answer given with a sibling
    entry nearly as close under it). Under a cluster: the entries shoppers tapped for it,
    where its wordings belong.
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if from_file is not None:
        lines = from_file.read_text(encoding="utf-8").splitlines()
        data = GapsData([UnansweredQuestion(line) for line in lines if line.strip()])
    else:
        source: GapsSource | None = ctx.meta.get(GAPS_SOURCE_KEY)
        if source is None:
            raise click.ClickException("no storage configured: run via `otklik` or --from-file")
        data = asyncio.run(source(since))
    unsure = [q for q in data.questions if q.close_call is None]
    close = [q for q in data.questions if q.close_call is not None]
    every_cluster = _clusters(unsure, data.picks)
    clusters = every_cluster[:limit]
    # «?» or a row of emoji has no words to group by; say how many, so the total adds up.
    wordless = len(unsure) - sum(cluster.count for cluster in every_cluster)
    close_clusters = _clusters(close, data.picks)[:limit]
    close_calls = list(zip(close_clusters, close_call_pairs(close, close_clusters), strict=True))
    offered = offered_entries(unsure, clusters)
    if as_json:
        payload = {
            **_gaps_json(clusters, offered, data.feedback, close_calls),
            "wordless": wordless,
        }
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    click.echo(
        f"{len(unsure)} unanswered questions (suggested or not found), top {len(clusters)} groups"
        + (
            f" ({wordless} with no words, only emoji or punctuation, not grouped)"
            if wordless
            else ""
        )
        + ":"
    )
    for cluster, entries in zip(clusters, offered, strict=True):
        _echo_cluster(cluster)
        if entries:
            shown = ", ".join(f"{entry} ×{count}" for entry, count in entries.items())
            click.echo(f"        offered: {shown}")
    if close:
        click.echo(
            f"\n{len(close)} close calls (answered, with another entry offered: under the "
            f"answer when nearly as close, or after 👎), top {len(close_clusters)} groups:"
        )
        for cluster, pair_counts in close_calls:
            _echo_cluster(cluster)
            for (answered, sibling), count in pair_counts:
                click.echo(f"        answered {answered}, offered {sibling} ×{count}")
    if data.feedback:
        click.echo("\nFeedback per entry (👍 / 👎), most 👎 first:")
        for item in sorted(data.feedback, key=lambda f: (-f.unhelpful, f.entry_id)):
            click.echo(f"  {item.helpful:5} / {item.unhelpful:<5} {item.entry_id}")


def _clusters(
    questions: list[UnansweredQuestion], picks: Sequence[PickedSuggestion]
) -> list[Cluster]:
    return cluster_questions(
        [q.text for q in questions], channels=[q.channel for q in questions], picks=picks
    )


def _echo_cluster(cluster: Cluster) -> None:
    others = "; ".join(cluster.texts[1:4])
    click.echo(f"{cluster.count:6}  {cluster.label}" + (f"  (also: {others})" if others else ""))
    if cluster.picked:
        taps = ", ".join(f"{entry} ×{count}" for entry, count in cluster.picked.items())
        click.echo(f"        shoppers picked: {taps} (add these wordings to its questions)")


def _counted(count: int, noun: str) -> str:
    """«1 error», «2 errors», «0 warnings»: the summary line is read by people."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _path(ctx: click.Context, directory: Path | None) -> Path:
    return directory or ctx.meta.get(FAQ_PATH_KEY) or DEFAULT_PATH


def _settings(ctx: click.Context, lexical_only: bool) -> MatcherSettings:
    settings: MatcherSettings = ctx.meta.get(MATCHER_SETTINGS_KEY) or MatcherSettings()
    return settings.with_changes(semantic=False) if lexical_only else settings


def _load(
    ctx: click.Context, directory: Path | None, lexical_only: bool
) -> tuple[Faq, FaqMatcher]:
    try:
        loaded = load_faq(_path(ctx, directory))
    except FaqError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    return loaded, _matcher(loaded, _settings(ctx, lexical_only))


def _matcher(faq: Faq, settings: MatcherSettings) -> FaqMatcher:
    """The matcher, or a one-line error (exit 1) when its encoder cannot be loaded."""
    try:
        return FaqMatcher(faq, settings)
    except (EncoderError, FaqError) as error:  # FaqError: a broken phrasebook
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


def _result_json(result: MatchResult) -> dict[str, Any]:
    return {
        "outcome": result.outcome.value,
        "matches": [{"id": m.entry_id, "score": m.score} for m in result.matches],
    }


def _cluster_json(cluster: Cluster) -> dict[str, Any]:
    return {
        "label": cluster.label,
        "count": cluster.count,
        "texts": list(cluster.texts),
        "channels": cluster.channels,
        "picked": cluster.picked,
    }


def _gaps_json(
    clusters: list[Cluster],
    offered: list[dict[str, int]],
    feedback: Any,
    close: list[tuple[Cluster, list[tuple[tuple[str, str], int]]]],
) -> dict[str, Any]:
    items: list[EntryFeedback] = list(feedback)
    return {
        "clusters": [
            {**_cluster_json(cluster), "offered": entries}
            for cluster, entries in zip(clusters, offered, strict=True)
        ],
        "close_calls": [
            {
                **_cluster_json(cluster),
                "answered": [
                    {"answered": answered, "offered": offered, "count": count}
                    for (answered, offered), count in pairs
                ],
            }
            for cluster, pairs in close
        ],
        "feedback": [
            {"id": f.entry_id, "helpful": f.helpful, "unhelpful": f.unhelpful} for f in items
        ],
    }
