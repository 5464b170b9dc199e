"""``elman recipes``: every kind's recipes, with their settings and published figures."""

from __future__ import annotations

import argparse

from elman import registry
from elman.cli.flags import WRITES_OUTPUT, declare, defaults_text


def register(parser: argparse.ArgumentParser) -> None:
    """Fill ``elman recipes``'s parser."""
    parser.description = "Recipes for elman train --recipe NAME --data DIR, and the other kinds'."
    declare(parser, cmd_recipes, WRITES_OUTPUT)


def cmd_recipes(args: argparse.Namespace) -> None:
    commands = []
    for registration in registry.registrations().values():
        kind = registry.kind(registration.name)
        for recipe in kind.recipes.values():
            command = f"elman {kind.command} --recipe {recipe.name}"
            print(f"{recipe.name}: {recipe.summary}")
            print(f"  command:   {recipe.example or command}")
            print(f"  settings:  {defaults_text(recipe.settings)}")
            print(f"  {'--data:' if kind.command == 'train' else 'data:':<10} {recipe.data}")
            print(f"  published: {recipe.published}")
            print(f"  target:    {recipe.target}")
            print()
        if kind.recipes:
            commands.append(f"elman {kind.command} --recipe NAME")
    runs = " or ".join(commands)
    print(f"Run one with: {runs}, with its data, and flags that override its settings")
