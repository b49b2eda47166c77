"""`siyu setup`: the enterprise and its first HQ administrator on an empty database (run `siyu migrate` first).

Interactive by default; every answer can come from a flag instead, so deployment scripts run it unattended:

    siyu setup --enterprise-name "某某品牌" --admin-username admin --admin-password-file /run/secrets/admin

A second run is refused once an enterprise exists (exit status 1), unless --allow-existing adds another enterprise.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from siyu.core.errors import DomainError
from siyu.setup import queries, services

FIELD_FLAGS = {
    "enterprise_name": "--enterprise-name", "enterprise_code": "--enterprise-code",
    "admin_username": "--admin-username", "admin_password": "--admin-password", "admin_name": "--admin-name",
}


class Command(BaseCommand):
    help = "Create the enterprise and its first HQ administrator on a fresh install."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--enterprise-name", default="", help="the brand's name, e.g. 某某品牌")
        parser.add_argument("--enterprise-code", default="",
                            help="a short code (lowercase letters, digits, dashes); from the name when left out")
        parser.add_argument("--admin-username", default="", help="the first HQ administrator's sign-in name")
        parser.add_argument("--admin-name", default="", help="the administrator's display name")
        parser.add_argument("--admin-password", default="",
                            help="the password (visible to other users of this machine: prefer the options below)")
        parser.add_argument("--admin-password-file", default="", help="read the password from this file")
        parser.add_argument("--admin-password-env", default="",
                            help="read the password from this environment variable")
        parser.add_argument("--no-input", "--noinput", action="store_false", dest="interactive",
                            help="never prompt: fail when an answer is missing")
        parser.add_argument("--allow-existing", action="store_true",
                            help="add another enterprise even though one exists already")

    def handle(self, *args: Any, **options: Any) -> None:
        interactive = options["interactive"] and sys.stdin.isatty()
        if not options["allow_existing"] and not queries.setup_open():
            raise CommandError("Siyu is already set up (an enterprise exists): nothing done. "
                               "Use --allow-existing to add another enterprise.")
        name = options["enterprise_name"] or self._ask(interactive, "Enterprise name: ", "--enterprise-name")
        username = options["admin_username"] or self._ask(interactive, "Administrator username: ",
                                                          "--admin-username")
        password = self._password(options, interactive)
        try:
            made = services.first_run(enterprise_name=name, enterprise_code=options["enterprise_code"],
                                      admin_username=username, admin_password=password,
                                      admin_name=options["admin_name"], source="command",
                                      allow_existing=options["allow_existing"])
        except DomainError as exc:
            flag = FIELD_FLAGS.get(exc.field or "", "")
            raise CommandError(f"{flag + ': ' if flag else ''}{exc.message}") from exc
        self.stdout.write(self.style.SUCCESS(
            f"Enterprise {name!r} (code {made.enterprise_code}) created; HQ administrator {made.username!r} "
            "can sign in to the console now."))

    @staticmethod
    def _ask(interactive: bool, prompt: str, flag: str) -> str:
        if not interactive:
            raise CommandError(f"{flag} is required when not run interactively")
        return input(prompt).strip()

    def _password(self, options: dict[str, Any], interactive: bool) -> str:
        if options["admin_password_file"]:
            try:
                return Path(options["admin_password_file"]).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise CommandError(f"--admin-password-file: cannot read it ({exc.strerror})") from exc
        if options["admin_password_env"]:
            value = os.environ.get(options["admin_password_env"], "")
            if not value:
                raise CommandError(f"--admin-password-env: {options['admin_password_env']} is not set")
            return value
        if options["admin_password"]:
            return str(options["admin_password"])
        if not interactive:
            raise CommandError("a password is required: --admin-password-file, --admin-password-env or "
                               "--admin-password")
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != first:
            raise CommandError("the passwords differ")
        return first
