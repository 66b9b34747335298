"""Publishing a release to the Hugging Face Hub: one commit with every file, tagged with the version.

The dry run builds the exact commit operations (path, size, SHA-256 of each file) and parses the card's
YAML locally, without touching the network; the real run sends those same operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpuskit.errors import EnvironmentProblem, ReleaseError, UsageError
from corpuskit.release.load import resolve_release
from corpuskit.release.manifest import read_manifest, verify_folder


@dataclass
class PublishPlan:
    folder: Path
    repo_id: str
    version: str
    operations: list[Any] = field(default_factory=list)
    card: dict[str, Any] = field(default_factory=dict)
    commit_url: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "release": str(self.folder),
            "repo_id": self.repo_id,
            "revision_tag": f"v{self.version}",
            "operations": [
                {
                    "path_in_repo": op.path_in_repo,
                    "size": op.upload_info.size,
                    "sha256": op.upload_info.sha256.hex(),
                }
                for op in self.operations
            ],
            "card": {
                k: self.card[k]
                for k in ("license", "language", "task_categories", "size_categories")
                if k in self.card
            }
            | {"configs": [c["config_name"] for c in self.card.get("configs", [])]},
            "commit_url": self.commit_url,
            "warnings": self.warnings,
        }


def plan_publish(version: str | Path, repo_id: str, releases: str | Path | None = None) -> PublishPlan:
    """Verify the release, check its card, and build the commit operations (no network)."""
    from huggingface_hub import CommitOperationAdd, DatasetCard

    folder = resolve_release(version, releases)
    check = verify_folder(folder)
    if not check.ok:
        raise ReleaseError(f"release {folder.name} failed verification: {check.problems[0]}")
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise UsageError(f"--repo-id must look like ORG/NAME, not {repo_id!r}")
    manifest = read_manifest(folder)
    card = DatasetCard.load(folder / "README.md")
    data = card.data.to_dict()
    for key in ("configs", "dataset_info", "license"):
        if key not in data:
            raise ReleaseError(f"{folder / 'README.md'}: the card's YAML has no {key!r}")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    operations = [
        CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
        for p in files
    ]
    listed = manifest["files"]
    for op in operations:
        expected = listed.get(op.path_in_repo)
        if expected is not None and expected["sha256"] != op.upload_info.sha256.hex():
            raise ReleaseError(f"{folder / op.path_in_repo}: changed while preparing the upload")
    return PublishPlan(
        folder=folder,
        repo_id=repo_id,
        version=manifest["version"],
        operations=operations,
        card=data,
        warnings=publish_warnings(folder, manifest),
    )


def publish_warnings(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """What a reader of the Hub page must know before using the labels (the card says it too)."""
    out = []
    demo = manifest.get("demo_annotators") or []
    if demo:
        out.append(
            f"{folder.name} holds annotations by demo accounts ({', '.join(demo)}): scripted answers, "
            "not for research"
        )
    below = manifest.get("below_threshold") or []
    if below:
        out.append(
            f"{folder.name} was built below the quality thresholds (--allow-below-threshold): "
            + "; ".join(below)
        )
    return out


def publish(
    version: str | Path,
    repo_id: str,
    releases: str | Path | None = None,
    dry_run: bool = False,
    private: bool = False,
) -> PublishPlan:
    """Upload a release as a single commit to a dataset repository and tag it `vX.Y.Z`."""
    plan = plan_publish(version, repo_id, releases)
    if dry_run:
        return plan
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=private)
        info = api.create_commit(
            repo_id,
            operations=plan.operations,
            commit_message=f"Release v{plan.version}",
            repo_type="dataset",
        )
        api.create_tag(repo_id, tag=f"v{plan.version}", revision=info.oid, repo_type="dataset")
    except (HfHubHTTPError, OSError) as exc:
        raise EnvironmentProblem(
            f"Hugging Face Hub: publishing v{plan.version} to {repo_id} failed: {exc}"
        ) from exc
    plan.commit_url = str(info.commit_url)
    return plan
