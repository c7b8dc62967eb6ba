"""The `lockstep` command: start a project from the kit's template, update it, adopt a DVC one.

    lockstep new PATH         a new project: asks a few questions (or --defaults, --answers)
    lockstep update [PATH]    merge the template's newer version into a project
    lockstep adopt [PATH]     bring the kit into an existing DVC project

Errors end with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from lockstep import __version__, files
from lockstep.errors import LockstepError, TemplateError
from lockstep.scaffold import template

QUESTIONS = """\
questions (names for --data and --answers):
  project_name    distribution name, lowercase with hyphens (default: the folder's name)
  package_name    the pipeline's Python package under src/ (default: from project_name)
  description     one line
  author          a person or a team
  base_image      empty: the offline Debian bootstrap (default); else name@sha256:<digest>
  python_version  3.11 (Debian bookworm, default) or 3.13 (trixie); 3.12 with a registry image
  dvc_remote      a folder or URL (default: .lockstep/dvc-remote, local and offline)
  registry        container registry for `./inv push`, host[:port][/path] (optional)
"""
# An installed kit takes the template of its own version; a checkout of the kit, its newest.
REF_HELP = (
    f"template version, a git tag or commit (default: v{__version__} for an installed kit; "
    "in the kit's own checkout, the newest tag, else HEAD)"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a `lockstep` subcommand; return the exit code."""
    args = parser().parse_args(argv)
    try:
        return args.command(args)
    except LockstepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"error: {files.describe_os_error(exc)}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    """The argument parser of `lockstep` and its subcommands."""
    root = argparse.ArgumentParser(
        prog="lockstep",
        description="Start, update and adopt reproducible model projects with the lockstep kit.",
    )
    root.add_argument("--version", action="version", version=f"lockstep {__version__}")
    commands = root.add_subparsers(title="commands", required=True, metavar="COMMAND")

    new = _command(
        commands,
        "new",
        "make a project from the template: git and DVC repositories, first commit",
        run_new,
    )
    new.add_argument("path", type=Path, help="the project folder (new, or empty)")
    _answer_options(new)

    update = _command(
        commands,
        "update",
        "merge the template's newer version into a project, keeping its own edits",
        run_update,
    )
    update.add_argument("path", type=Path, nargs="?", default=Path(), help="project (default: .)")
    update.add_argument("--vcs-ref", metavar="REF", help=REF_HELP)

    adopt = _command(
        commands,
        "adopt",
        "bring the kit into an existing DVC project; its stages stay as they are",
        run_adopt,
    )
    adopt.add_argument("path", type=Path, nargs="?", default=Path(), help="project (default: .)")
    _answer_options(adopt)
    return root


def run_new(args: argparse.Namespace) -> int:
    """`lockstep new`."""
    recorded = template.new(
        args.path,
        source=args.template,
        answers=_answers(args),
        defaults=args.defaults,
        vcs_ref=args.vcs_ref,
    )
    print(f"made {args.path} from the lockstep template {recorded.get('_commit', '')}")
    print(f"next:\n  cd {args.path}\n  ./inv repro\n  ./inv test")
    return 0


def run_update(args: argparse.Namespace) -> int:
    """`lockstep update`: exit 1 when conflicts are left to resolve."""
    result = template.update(args.path, vcs_ref=args.vcs_ref)
    if result.before == result.after and not result.changed:
        print(f"up to date with the template {result.after}")
        return 0
    print(f"updated from the template {result.before} to {result.after}:")
    for path in result.changed:
        print(f"  {'conflict' if path in result.conflicts else 'changed '}  {path}")
    if result.conflicts:
        print(
            "resolve the conflict markers (<<<<<<< before updating ... >>>>>>> after updating), "
            "`git add` the files, then commit",
            file=sys.stderr,
        )
        return 1
    print("review with `git diff`, run `./inv test`, then commit")
    return 0


def run_adopt(args: argparse.Namespace) -> int:
    """`lockstep adopt`."""
    recorded = template.adopt(
        args.path,
        source=args.template,
        answers=_answers(args),
        defaults=args.defaults,
        vcs_ref=args.vcs_ref,
    )
    print(f"adopted the lockstep kit {recorded.get('_commit', '')} (committed)")
    print("next: ./inv repro   (runs your pipeline in the pinned image and records lineage)")
    return 0


def _command(commands, name: str, summary: str, handler) -> argparse.ArgumentParser:
    sub = commands.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=QUESTIONS if name != "update" else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(command=handler)
    return sub


def _answer_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--defaults", action="store_true", help="take the default of every unanswered question"
    )
    sub.add_argument(
        "--answers", type=Path, metavar="FILE", help="YAML file of answers, by question name"
    )
    sub.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one answer (repeatable; wins over --answers)",
    )
    sub.add_argument(
        "--template",
        metavar="SRC",
        help="template path or git URL (default: $LOCKSTEP_TEMPLATE, else this kit's own)",
    )
    sub.add_argument("--vcs-ref", metavar="REF", help=REF_HELP)


def _answers(args: argparse.Namespace) -> dict[str, Any]:
    """Answers from --answers FILE, then each --data NAME=VALUE."""
    answers: dict[str, Any] = {}
    if args.answers:
        try:
            loaded = yaml.safe_load(args.answers.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise TemplateError(f"cannot read {args.answers}: {exc}", "pass a YAML file") from None
        if not isinstance(loaded, dict):
            raise TemplateError(f"{args.answers}: expected a mapping of answers", "see --help")
        answers.update({key: value for key, value in loaded.items() if not key.startswith("_")})
    for item in args.data:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise TemplateError(f"--data {item!r}: expected NAME=VALUE", "see --help")
        answers[name] = value
    return answers


if __name__ == "__main__":
    raise SystemExit(main())
