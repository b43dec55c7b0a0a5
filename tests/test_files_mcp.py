"""``sandbox_exec``'s ``files`` and ``collect`` through a real MCP client over stdio (issue 14,
points 5 and 7): text and base64 in, text, base64 and image content out, caps, links, bad names,
and the audit log's names, sizes and digests."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from mcp_types import ImageContent
from test_mcp import audit_lines, error_text, mcp_server, structured

from sandbox_kernel.mcp.files import MCP_MAX_FILES

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_files_in_and_collected_files_out(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    async with mcp_server(tmp_path, "--audit-log", str(audit)) as server:
        result = await server.run(
            language="python",
            code="import os\nos.makedirs('out')\n"
                 "open('out/sum.txt', 'w').write(str(sum(map(int, open('in/n.txt')))))\n"
                 f"open('out/plot.png', 'wb').write({PNG!r})\n"
                 "open('out/raw.bin', 'wb').write(open('blob.bin', 'rb').read()[::-1])\n"
                 "os.symlink('/etc/passwd', 'out/passwd')",
            files={"in/n.txt": "1\n2\n3\n", "blob.bin": base64.b64encode(b"\x00\xff").decode()},
            collect=["out/*"])
        # Mixed text and binary in one call are not possible with one flag: blob.bin above
        # arrived as the text of its base64; a second call sends real bytes.
        content = structured(result)
        files = {entry["name"]: entry for entry in content["files"]}
        assert set(files) == {"out/sum.txt", "out/plot.png", "out/raw.bin"}
        assert files["out/sum.txt"]["text"] == "6"
        assert files["out/sum.txt"]["mimeType"] == "text/plain"
        assert files["out/plot.png"]["mimeType"] == "image/png"
        assert base64.b64decode(files["out/plot.png"]["base64"]) == PNG
        assert files["out/plot.png"]["sha256"] == hashlib.sha256(PNG).hexdigest()
        images = [block for block in result.content if isinstance(block, ImageContent)]
        assert len(images) == 1 and base64.b64decode(images[0].data) == PNG

        binary = await server.run(language="bash", code="cat b.bin | od -An -tx1",
                                  files={"b.bin": base64.b64encode(b"\x00\xff").decode()},
                                  files_base64=True, collect=["b.bin"])
        content = structured(binary)
        assert content["output"].split() == ["00", "ff"]
        assert content["files"][0]["base64"] == "AP8="
    records = audit_lines(audit)
    first = records[0]
    assert {f["name"] for f in first["files_in"]} == {"in/n.txt", "blob.bin"}
    assert {f["name"] for f in first["files_out"]} == {"out/sum.txt", "out/plot.png",
                                                       "out/raw.bin"}
    assert all(set(f) == {"name", "size", "sha256"} for f in first["files_out"])
    assert "1\n2\n3" not in json.dumps(records)  # digests, never contents


async def test_bad_names_and_encodings_are_tool_errors(tmp_path: Path) -> None:
    async with mcp_server(tmp_path) as server:
        for arguments, message in (
            ({"files": {"../x": "no"}}, "'..'"),
            ({"files": {"/etc/passwd": "no"}}, "absolute"),
            ({"files": {"x": "***"}, "files_base64": True}, "not valid base64"),
            ({"collect": ["../*"]}, "'..'"),
            ({"files": {str(i): "" for i in range(MCP_MAX_FILES + 1)}},
             f"over the limit of {MCP_MAX_FILES} files"),
        ):
            result = await server.run(language="bash", code="echo ran", **arguments)
            assert message in error_text(result), arguments
        assert structured(await server.run(language="bash", code="echo alive")
                          )["output"] == "alive\n"


async def test_links_and_caps_on_collection_are_reported_with_the_run(tmp_path: Path) -> None:
    async with mcp_server(tmp_path) as server:
        link = structured(await server.run(
            language="bash", code="ln -s /proc/self/environ env; echo ran", collect=["env"]))
        assert link["output"] == "ran\n"
        assert "symbolic link" in link["filesError"]
        many = structured(await server.run(
            language="bash", session="s",
            code=f"for i in $(seq {MCP_MAX_FILES + 1}); do echo $i > f$i; done; x=kept",
            collect=["f*"]))
        assert f"over the limit of {MCP_MAX_FILES} files" in many["filesError"]
        after = structured(await server.run(language="bash", session="s", code="echo $x",
                                            collect=["f1"]))
        assert after["output"] == "kept\n"
        assert after["files"][0]["text"] == "1\n"
