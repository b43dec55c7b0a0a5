"""Benchmarks of sandbox-kernel against the native ipykernel, the docker CLI, docker-py and
llm-sandbox. Run ``bash bench/run.sh`` (or ``.venv/bin/python -m bench``); see
README.md, Performance."""
