"""The Python blocks of README.md and docs/*.md run, and docs/api.md is current.

How a document's ```python blocks run:

- In order, in one namespace per document, as in a ``python -m asyncio`` session:
  top-level ``await``, ``async with`` and ``async for`` work, names defined by one
  block are visible in the next, ``__name__`` is ``"__main__"`` and ``sys.argv`` is
  ``[document]``. A ``SystemExit`` with status 0 or None ends its block as a
  success; any other status fails the test.
- The Microsoft endpoints that code reaches by default are replaced by an emulator
  that this module serves on 127.0.0.1, so a block can show the code for Microsoft
  Graph and run as shown:

  - ``azure.identity.aio.ClientSecretCredential`` and ``EnvironmentCredential`` get
    their tokens from the emulator's token endpoint;
  - ``CallsClient`` defaults to the emulator's base URL instead of
    https://graph.microsoft.com/v1.0;
  - the webhook defaults to the emulator's notification signing keys instead of
    those of https://api.aps.skype.com;
  - ``TENANT_ID``, ``CLIENT_ID``, ``CLIENT_SECRET`` and ``USER_ID`` are predefined
    with the emulator's app registration and a user id, and the environment
    variables ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID`` and ``AZURE_CLIENT_SECRET``
    hold the same values.

An HTML comment on the line before a block changes how it runs:

- ``<!-- no-run: REASON -->`` skips it. The reason is required, and few blocks may
  have one.
- ``<!-- pytest -->`` runs it as a test module with pytester, with the calls_async
  pytest plugin and ``asyncio_mode = auto``, instead of in the namespace.
- ``<!-- file: NAME.py -->`` runs it in the namespace and also writes it as module
  NAME.py next to the document's ``pytest`` blocks, so that they can import it.

Blocks fenced as ``py``, ``python3`` or ``pycon`` are not allowed, so that no
Python block escapes the run. docs/api.md is generated and has no examples.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import calls_async.webhook
from calls_async import CallsClient
from calls_async.testing import Emulator, EmulatorCredential

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {"docs/api.md"}
DOCUMENTS = [
    "README.md",
    *sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "docs").glob("*.md")
        if path.relative_to(ROOT).as_posix() not in GENERATED
    ),
]
MAX_NO_RUN_BLOCKS = 3
BLOCK_TIMEOUT = 60.0
USER_ID = "8b081ef6-4792-4def-b2c9-c363a1bf41d5"

PYTEST_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
filterwarnings = error
"""

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<language>[\w+-]*)[ \t]*$")
_MARKER = re.compile(
    r"^<!--\s*(?P<kind>no-run|pytest|file)\s*:?\s*(?P<text>.*?)\s*-->$"
)
_FORBIDDEN_LANGUAGES = {"py", "python3", "pycon"}


@attrs.frozen
class Block:
    """One fenced block of a Markdown document."""

    document: str
    line: int
    language: str
    source: str
    marker: str | None = None
    marker_text: str = ""

    @property
    def name(self) -> str:
        return f"{self.document}:{self.line}"


def read_blocks(document: str) -> list[Block]:
    """Return the fenced blocks of ``document`` with the marker before each."""
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start = index
        indent = fence["indent"]
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index].removeprefix(indent))
            index += 1
        marker, marker_text = _marker_before(lines, start)
        blocks.append(
            Block(
                document=document,
                line=start + 1,
                language=fence["language"],
                source="\n".join(body) + "\n",
                marker=marker,
                marker_text=marker_text,
            )
        )
        index += 1
    return blocks


def _marker_before(lines: list[str], fence_index: int) -> tuple[str | None, str]:
    previous = fence_index - 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    if previous < 0:
        return None, ""
    match = _MARKER.match(lines[previous].strip())
    if match is None:
        return None, ""
    return match["kind"], match["text"]


def python_blocks(document: str) -> list[Block]:
    return [block for block in read_blocks(document) if block.language == "python"]


# -- the stand-in for the Microsoft endpoints ---------------------------------------


class BackgroundEmulator:
    """An emulator on its own event loop in a thread, so blocks can run asyncio.run."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="docs-emulator", daemon=True
        )
        self.emulator = Emulator("127.0.0.1", 0)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.emulator.start(), self._loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def stand_in() -> Iterator[Emulator]:
    background = BackgroundEmulator()
    background.start()
    try:
        yield background.emulator
    finally:
        background.close()


def credential_classes(emulator: Emulator) -> tuple[type, type]:
    """Return stand-ins for ClientSecretCredential and EnvironmentCredential."""

    class ClientSecretCredential:
        """Takes the arguments of azure-identity's; tokens come from the emulator."""

        def __init__(
            self, tenant_id: str, client_id: str, client_secret: str, **_: Any
        ) -> None:
            assert tenant_id == emulator.tenant_id, "use TENANT_ID in the docs"
            self._inner = EmulatorCredential(
                emulator.token_url, client_id, client_secret
            )

        async def get_token(self, *scopes: str, **options: Any) -> Any:
            return await self._inner.get_token(*scopes, **options)

        async def close(self) -> None:
            await self._inner.close()

        async def __aenter__(self) -> Any:
            return self

        async def __aexit__(self, *exc_info: object) -> None:
            await self.close()

    class EnvironmentCredential(ClientSecretCredential):
        """Reads the AZURE_* variables as azure-identity's does."""

        def __init__(self, **_: Any) -> None:
            super().__init__(
                os.environ["AZURE_TENANT_ID"],
                os.environ["AZURE_CLIENT_ID"],
                os.environ["AZURE_CLIENT_SECRET"],
            )

    return ClientSecretCredential, EnvironmentCredential


@pytest.fixture
def microsoft_endpoints(
    stand_in: Emulator, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Point the default endpoints at the stand-in; return the predefined names."""
    import azure.identity.aio

    secret_credential, environment_credential = credential_classes(stand_in)
    monkeypatch.setattr(azure.identity.aio, "ClientSecretCredential", secret_credential)
    monkeypatch.setattr(
        azure.identity.aio, "EnvironmentCredential", environment_credential
    )
    init_defaults = CallsClient.__init__.__kwdefaults__
    monkeypatch.setitem(init_defaults, "base_url", stand_in.base_url)
    for function in (
        calls_async.webhook.create_app,
        calls_async.webhook.CallbackHandler.__init__,
    ):
        monkeypatch.setitem(
            function.__kwdefaults__,
            "openid_configuration_url",
            stand_in.openid_configuration_url,
        )
    monkeypatch.setenv("AZURE_TENANT_ID", stand_in.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", stand_in.app_id)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", stand_in.client_secret)
    return {
        "TENANT_ID": stand_in.tenant_id,
        "CLIENT_ID": stand_in.app_id,
        "CLIENT_SECRET": stand_in.client_secret,
        "USER_ID": USER_ID,
    }


# -- running blocks ---------------------------------------------------------------


def run_in_namespace(blocks: list[Block], namespace: dict[str, Any]) -> None:
    """Run ``blocks`` in order in ``namespace``, allowing top-level await."""
    with asyncio.Runner() as runner:
        for block in blocks:
            code = compile(
                block.source,
                block.name,
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            )
            try:
                if code.co_flags & inspect.CO_COROUTINE:
                    coroutine = eval(code, namespace)
                    runner.run(asyncio.wait_for(coroutine, BLOCK_TIMEOUT))
                else:
                    exec(code, namespace)
            except SystemExit as exit_:
                if exit_.code not in (0, None):
                    pytest.fail(f"{block.name} exited with status {exit_.code}")


def run_as_tests(
    pytester: pytest.Pytester, blocks: list[Block], modules: list[Block]
) -> None:
    pytester.makeini(PYTEST_INI)
    for module in modules:
        pytester.makepyfile(**{module.marker_text.removesuffix(".py"): module.source})
    for number, block in enumerate(blocks):
        pytester.makepyfile(**{f"test_doc_block_{number}": block.source})
    result = pytester.runpytest()
    outcomes = result.parseoutcomes()
    failed = {key: count for key, count in outcomes.items() if key != "passed"}
    assert failed == {}, "\n".join(result.outlines)
    assert outcomes.get("passed", 0) >= len(blocks), "\n".join(result.outlines)


def _has_runnable_block(document: str) -> bool:
    return any(b.marker in (None, "file", "pytest") for b in python_blocks(document))


RUNNABLE_DOCUMENTS = [d for d in DOCUMENTS if _has_runnable_block(d)]


def test_readme_has_runnable_blocks() -> None:
    assert "README.md" in RUNNABLE_DOCUMENTS


@pytest.mark.parametrize("document", RUNNABLE_DOCUMENTS)
def test_python_blocks_run(
    document: str,
    microsoft_endpoints: dict[str, Any],
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocks = python_blocks(document)
    in_namespace = [b for b in blocks if b.marker in (None, "file")]
    as_tests = [b for b in blocks if b.marker == "pytest"]
    modules = [b for b in blocks if b.marker == "file"]

    # The blocks run in pytester's folder, so files they write go there.
    monkeypatch.setattr(sys, "argv", [document])
    namespace: dict[str, Any] = {"__name__": "__main__", **microsoft_endpoints}
    run_in_namespace(in_namespace, namespace)
    if as_tests:
        run_as_tests(pytester, as_tests, modules)


def test_markers_are_valid() -> None:
    no_run: list[Block] = []
    for document in DOCUMENTS:
        for block in read_blocks(document):
            assert block.language not in _FORBIDDEN_LANGUAGES, (
                f"{block.name}: fence the block as ```python so that it runs"
            )
            if block.language != "python":
                continue
            if block.marker == "no-run":
                assert block.marker_text, f"{block.name}: no-run needs a reason"
                no_run.append(block)
            if block.marker == "file":
                assert re.fullmatch(r"\w+\.py", block.marker_text), block.name
    assert len(no_run) <= MAX_NO_RUN_BLOCKS, [block.name for block in no_run]


def test_readme_blocks_are_found() -> None:
    blocks = python_blocks("README.md")
    assert len(blocks) >= 4
    assert [b.marker for b in blocks].count("pytest") == 1


def test_read_blocks_parses_markers(tmp_path: Path) -> None:
    document = tmp_path / "sample.md"
    document.write_text(
        "Text\n\n<!-- no-run: needs a tenant -->\n```python\nraise SystemExit\n```\n"
        "\n<!-- file: bot.py -->\n\n```python\nX = 1\n```\n"
        "- item\n\n  ```python\n  y = 2\n  ```\n",
        encoding="utf-8",
    )
    relative = os.path.relpath(document, ROOT)

    blocks = read_blocks(relative)

    assert [(b.marker, b.marker_text) for b in blocks] == [
        ("no-run", "needs a tenant"),
        ("file", "bot.py"),
        (None, ""),
    ]
    assert blocks[2].source == "y = 2\n"


# -- the API reference ------------------------------------------------------------


def test_api_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build_api_reference.py"), "--stdout"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    committed = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert result.stdout == committed, (
        "docs/api.md is out of date with the docstrings; regenerate it with "
        "python docs/build_api_reference.py"
    )
