"""The 'kubernetes-job' infrastructure block.

No Kubernetes API server can run on our machines (no binary is obtainable), so:

- every manifest the block produces — defaults, customizations, overrides — is checked with
  ``kubernetes-validate --strict`` against the official OpenAPI schemas;
- the client calls (create the Job, watch its pod, follow the log, delete the Job) run against the
  ``kmock`` emulator on loopback, with the test playing the Job controller and the kubelet (it creates
  the pod and moves it through its phases) since the emulator has neither.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes import client as k8s

from sluice.blocks import InfrastructureResult
from sluice.errors import ConfigurationError, InfrastructureNotAvailable, InfrastructureNotFound
from sluice_kubernetes.job import KubernetesClusterConfig, KubernetesJob
from tests.infra.kmock_cluster import EmulatedCluster, emulated_cluster

FLOW_RUN_ID = "0b7d5c8e-3f0a-4c61-9a53-7d2f4e1c9b10"


def prepared(**fields: Any) -> KubernetesJob:
    """A block set up for one flow run, as the agent does it."""
    return KubernetesJob(**fields).prepare_for_flow_run(
        FLOW_RUN_ID,
        flow_run_name="Brave Otter",
        deployment_id="5f1e2d3c-0000-4000-8000-000000000002",
        flow_id="5f1e2d3c-0000-4000-8000-000000000003",
        flow_name="etl: nightly/load",
        api_url="http://sluice.example:4200/api",
    )


def assert_valid(manifest: dict[str, Any]) -> None:
    """The manifest passes strict validation for the latest Kubernetes version."""
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)


def wait_for(predicate: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


# -- manifests -----------------------------------------------------------------------------------


def test_default_manifest_passes_kubernetes_validate_strict_on_the_command_line(tmp_path: Path) -> None:
    manifest = yaml.safe_load(prepared().preview())
    # The CLI names each resource in its report, so give it the name the API server would generate.
    manifest["metadata"]["name"] = manifest["metadata"]["generateName"] + "x7k2p"
    manifest_file = tmp_path / "job.yaml"
    manifest_file.write_text(yaml.safe_dump(manifest))
    validator = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(validator), "--strict", str(manifest_file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed for resource job/brave-otter-x7k2p" in result.stdout


def test_build_job_sets_labels_name_restart_policy_and_no_retries() -> None:
    manifest = prepared(namespace="flows").build_job()

    assert_valid(manifest)
    metadata = manifest["metadata"]
    assert metadata["namespace"] == "flows"
    assert metadata["generateName"] == "brave-otter-"
    assert metadata["labels"]["sluice.io/flow-run-id"] == FLOW_RUN_ID
    assert metadata["labels"]["sluice.io/flow-name"] == "etl-nightly-load"
    assert metadata["labels"]["sluice.io/flow-run-name"] == "Brave-Otter"
    pod_template = manifest["spec"]["template"]
    assert pod_template["metadata"]["labels"] == metadata["labels"]
    assert pod_template["spec"]["restartPolicy"] == "Never"
    assert manifest["spec"]["backoffLimit"] == 0
    container = pod_template["spec"]["containers"][0]
    assert container["args"] == ["python", "-m", "sluice.engine"]
    assert {"name": "SLUICE__FLOW_RUN_ID", "value": FLOW_RUN_ID} in container["env"]
    assert {"name": "SLUICE_API_URL", "value": "http://sluice.example:4200/api"} in container["env"]
    assert container["image"].startswith("sluice/sluice:")


def test_label_values_are_sanitised_to_kubernetes_rules() -> None:
    long_name = "x" * 80
    manifest = KubernetesJob(labels={"team/owner!": "data eng ", "example.com/Tier": "-gold-", "long": long_name})
    labels = manifest.build_job()["metadata"]["labels"]
    assert labels == {"team/owner": "data-eng", "example.com/Tier": "gold", "long": "x" * 63}
    assert_valid(manifest.build_job())


def test_every_field_reaches_the_manifest() -> None:
    base_job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"labels": {"team": "data"}},
        "spec": {
            "template": {"spec": {"containers": [{"name": "sluice-job", "env": [{"name": "DROP_ME", "value": "x"}]}]}}
        },
    }
    block = prepared(
        image="registry.example/flows:1.2",
        image_pull_policy="Always",
        namespace="etl",
        service_account_name="sluice-runner",
        finished_job_ttl=600,
        job=base_job,
        env={"EXTRA": "1", "DROP_ME": None},
        command=["sluice-engine", "--verbose"],
    )
    manifest = block.build_job()

    assert_valid(manifest)
    pod_spec = manifest["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    assert container["image"] == "registry.example/flows:1.2"
    assert container["imagePullPolicy"] == "Always"
    assert container["args"] == ["sluice-engine", "--verbose"]
    names = [item["name"] for item in container["env"]]
    assert "EXTRA" in names and "DROP_ME" not in names
    assert pod_spec["serviceAccountName"] == "sluice-runner"
    assert manifest["spec"]["ttlSecondsAfterFinished"] == 600
    assert manifest["metadata"]["namespace"] == "etl"
    assert manifest["metadata"]["labels"]["team"] == "data"


def test_customizations_are_applied_last() -> None:
    block = prepared(
        customizations=[
            {
                "op": "add",
                "path": "/spec/template/spec/containers/0/resources",
                "value": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
            },
            {"op": "add", "path": "/spec/template/spec/nodeSelector", "value": {"pool": "batch"}},
            {"op": "replace", "path": "/spec/backoffLimit", "value": 1},
            {"op": "add", "path": "/spec/activeDeadlineSeconds", "value": 3600},
            {"op": "test", "path": "/kind", "value": "Job"},
        ]
    )
    manifest = block.build_job()

    assert_valid(manifest)
    pod_spec = manifest["spec"]["template"]["spec"]
    assert pod_spec["containers"][0]["resources"]["requests"]["cpu"] == "500m"
    assert pod_spec["nodeSelector"] == {"pool": "batch"}
    assert manifest["spec"]["backoffLimit"] == 1
    assert manifest["spec"]["activeDeadlineSeconds"] == 3600


def test_overrides_reach_env_image_job_and_customizations() -> None:
    block = prepared().with_overrides(
        {
            "env.EXTRA_SETTING": "on",
            "image": "registry.example/flows:2",
            "namespace": "prod",
            "image_pull_policy": "IfNotPresent",
            "job.spec.activeDeadlineSeconds": 120,
            "pod_watch_timeout_seconds": "30",
            "customizations": '[{"op": "add", "path": "/spec/template/spec/priorityClassName", "value": "high"}]',
        }
    )
    manifest = block.build_job()

    assert_valid(manifest)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "EXTRA_SETTING", "value": "on"} in container["env"]
    assert container["image"] == "registry.example/flows:2"
    assert manifest["metadata"]["namespace"] == "prod"
    assert manifest["spec"]["activeDeadlineSeconds"] == 120
    assert manifest["spec"]["template"]["spec"]["priorityClassName"] == "high"
    assert block.pod_watch_timeout_seconds == 30


def test_override_of_an_unknown_field_names_it() -> None:
    with pytest.raises(ConfigurationError, match="kubernetes-job blocks have no field 'imagee'"):
        KubernetesJob().with_overrides({"imagee": "x"})


@pytest.mark.parametrize(
    ("customizations", "message"),
    [
        ('[{"op": "add", "path": "/a"', "customizations is not valid JSON"),
        ([{"op": "upsert", "path": "/a", "value": 1}], "unknown op 'upsert'"),
        ([{"op": "add", "path": "/a"}], "the member 'value' is required"),
        ([{"op": "remove", "path": "spec"}], "must be empty or start with '/'"),
        ({"op": "remove", "path": "/spec"}, "must be a list of operations"),
    ],
)
def test_malformed_customizations_are_rejected_when_the_block_is_made(customizations: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        KubernetesJob.from_data({"customizations": customizations})
    with pytest.raises(ConfigurationError, match=message):
        KubernetesJob().with_overrides({"customizations": customizations})


def test_a_customization_whose_path_fails_is_rejected_by_build_job() -> None:
    block = KubernetesJob(customizations=[{"op": "replace", "path": "/spec/template/spec/nodeName", "value": "n1"}])
    with pytest.raises(ConfigurationError, match=r"operation 0 \(replace /spec/template/spec/nodeName\)"):
        block.build_job()


def test_preview_prints_the_manifest_as_yaml_with_secrets_masked() -> None:
    block = prepared(env={"SLUICE_API_KEY": "s3cret"})
    preview = block.preview()
    assert "s3cret" not in preview
    manifest = yaml.safe_load(preview)
    assert manifest["kind"] == "Job"
    assert {"name": "SLUICE_API_KEY", "value": "********"} in manifest["spec"]["template"]["spec"]["containers"][0][
        "env"
    ]


# -- the client calls, against the kmock emulator ------------------------------------------------


@pytest.fixture
def cluster() -> Iterator[EmulatedCluster]:
    """A kmock Kubernetes API emulator on loopback."""
    with emulated_cluster() as emulated:
        yield emulated


@pytest.fixture
def core(cluster: EmulatedCluster) -> Iterator[k8s.CoreV1Api]:
    """A client for the test's own role as Job controller and kubelet."""
    with KubernetesClusterConfig(config=cluster.kubeconfig()).api_client() as api:
        yield k8s.CoreV1Api(api)


class BackgroundRun:
    """``block.run()`` in a thread, as the agent does."""

    def __init__(self, block: KubernetesJob) -> None:
        self.started = threading.Event()
        self.identifier: str | None = None
        self.result: InfrastructureResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(block,), daemon=True)
        self._thread.start()

    def _run(self, block: KubernetesJob) -> None:
        try:
            self.result = block.run(on_started=self._on_started)
        except BaseException as exc:
            self.error = exc
            self.started.set()

    def _on_started(self, identifier: str) -> None:
        self.identifier = identifier
        self.started.set()

    def join(self, timeout: float = 30) -> InfrastructureResult:
        """Wait for ``run`` to return and give its result."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "run() did not return"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def block_for(cluster: EmulatedCluster, **fields: Any) -> KubernetesJob:
    """A prepared block pointing at the emulator."""
    return prepared(cluster_config=KubernetesClusterConfig(config=cluster.kubeconfig()), **fields)


def start_pod(core: k8s.CoreV1Api, job: dict[str, Any], pod_name: str) -> None:
    """Play the Job controller: create the Job's pod, still pending."""
    namespace = job["metadata"]["namespace"]
    labels = {**job["spec"]["template"]["metadata"]["labels"], "job-name": job["metadata"]["name"]}
    core.create_namespaced_pod(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": namespace, "labels": labels},
            "spec": job["spec"]["template"]["spec"],
            "status": {"phase": "Pending"},
        },
    )


def set_phase(core: k8s.CoreV1Api, namespace: str, pod_name: str, phase: str, exit_code: int | None = None) -> None:
    """Play the kubelet: move the pod to ``phase``, with the container's exit code once it ended."""
    state: dict[str, Any] = {"running": {}} if exit_code is None else {"terminated": {"exitCode": exit_code}}
    status = {"phase": phase, "containerStatuses": [container_status(state, ready=exit_code is None)]}
    core.patch_namespaced_pod_status(pod_name, namespace, {"status": status})


def container_status(state: dict[str, Any], ready: bool = False) -> dict[str, Any]:
    """A container status as the kubelet reports it."""
    return {"name": "sluice-job", "image": "img", "imageID": "", "ready": ready, "restartCount": 0, "state": state}


def test_run_creates_the_job_streams_the_log_and_reports_success(
    cluster: EmulatedCluster, core: k8s.CoreV1Api, capfd: pytest.CaptureFixture[str]
) -> None:
    run = BackgroundRun(block_for(cluster, namespace="flows"))
    job = wait_for(lambda: cluster.live_objects("jobs"), what="the Job to be created")[0]
    assert run.started.wait(10) and run.identifier == f"flows:{job['metadata']['name']}"
    assert job["metadata"]["name"].startswith("brave-otter-")
    assert job["metadata"]["labels"]["sluice.io/flow-run-id"] == FLOW_RUN_ID
    assert_valid(job)

    cluster.serve_log("flows", "brave-otter-pod", b"engine starting\nflow finished\n")
    start_pod(core, job, "brave-otter-pod")
    set_phase(core, "flows", "brave-otter-pod", "Running")
    wait_for(lambda: "flow finished" in capfd.readouterr().out or None, what="the log to be streamed")
    set_phase(core, "flows", "brave-otter-pod", "Succeeded", exit_code=0)

    result = run.join()
    assert result.status_code == 0
    assert result.identifier == run.identifier


def test_run_reports_the_container_exit_code_of_a_failed_pod(
    cluster: EmulatedCluster, core: k8s.CoreV1Api, capfd: pytest.CaptureFixture[str]
) -> None:
    run = BackgroundRun(block_for(cluster))
    job = wait_for(lambda: cluster.live_objects("jobs"), what="the Job to be created")[0]
    cluster.serve_log("default", "failing-pod", b"Traceback: boom\n")
    start_pod(core, job, "failing-pod")
    set_phase(core, "default", "failing-pod", "Failed", exit_code=3)

    assert run.join().status_code == 3
    assert "Brave Otter | Traceback: boom" in capfd.readouterr().out


def test_run_gives_up_when_the_pod_does_not_start_in_time(
    cluster: EmulatedCluster, core: k8s.CoreV1Api, capfd: pytest.CaptureFixture[str]
) -> None:
    run = BackgroundRun(block_for(cluster, pod_watch_timeout_seconds=1))
    job = wait_for(lambda: cluster.live_objects("jobs"), what="the Job to be created")[0]
    start_pod(core, job, "stuck-pod")
    reason = {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}
    core.patch_namespaced_pod_status(
        "stuck-pod", "default", {"status": {"containerStatuses": [container_status(reason)]}}
    )
    assert run.join().status_code == -1
    out = capfd.readouterr().out
    assert "did not start within 1s (last reason: ImagePullBackOff: pull access denied)" in out


def test_kill_deletes_the_job_in_the_foreground(
    cluster: EmulatedCluster, core: k8s.CoreV1Api, capfd: pytest.CaptureFixture[str]
) -> None:
    block = block_for(cluster)
    run = BackgroundRun(block)
    job = wait_for(lambda: cluster.live_objects("jobs"), what="the Job to be created")[0]
    cluster.serve_log("default", "long-pod", b"working\n")
    start_pod(core, job, "long-pod")
    set_phase(core, "default", "long-pod", "Running")
    wait_for(lambda: "working" in capfd.readouterr().out or None, what="the log to be streamed")
    assert run.identifier is not None

    block.kill(run.identifier, grace_seconds=5)

    assert cluster.live_objects("jobs") == []
    deletes = [request for request in cluster.emulator if request.method == "DELETE"]
    assert deletes[0].data["propagationPolicy"] == "Foreground"
    assert deletes[0].data["gracePeriodSeconds"] == 5
    core.delete_namespaced_pod("long-pod", "default")  # what the garbage collector does next
    assert run.join().status_code == -1


def test_kill_of_a_job_that_does_not_exist_is_not_found(cluster: EmulatedCluster) -> None:
    with pytest.raises(InfrastructureNotFound, match="Job 'gone-12345' not found in namespace 'default'"):
        block_for(cluster).kill("default:gone-12345")


def test_a_failing_customization_is_rejected_before_any_request(cluster: EmulatedCluster) -> None:
    before = cluster.requests_made()
    block = block_for(cluster, customizations=[{"op": "remove", "path": "/spec/template/spec/volumes"}])
    with pytest.raises(ConfigurationError, match="path not found: /spec/template/spec/volumes does not exist"):
        block.run()
    assert cluster.requests_made() == before
    assert cluster.live_objects("jobs") == []


def test_cluster_config_with_an_unknown_context_is_a_clear_error(cluster: EmulatedCluster) -> None:
    config = KubernetesClusterConfig(config=cluster.kubeconfig(), context_name="nowhere")
    with pytest.raises(ConfigurationError, match="invalid kubeconfig in cluster_config \\(context 'nowhere'\\)"):
        KubernetesJob(cluster_config=config).kill("default:x")


def test_a_refused_job_creation_explains_the_rbac_the_agent_needs(cluster: EmulatedCluster) -> None:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden"}
    status["message"] = 'jobs.batch is forbidden: User "system:serviceaccount:sluice:agent" cannot create'
    cluster.emulator["post /apis/batch/v1/namespaces/default/jobs"] << 403 << status
    with pytest.raises(InfrastructureNotAvailable) as caught:
        block_for(cluster).run()
    message = str(caught.value)
    assert "the cluster refused to create a Job in namespace 'default': 403 jobs.batch is forbidden" in message
    assert "pods/log (get)" in message


def test_run_gives_up_when_the_job_outlives_job_watch_timeout_seconds(
    cluster: EmulatedCluster, core: k8s.CoreV1Api, capfd: pytest.CaptureFixture[str]
) -> None:
    run = BackgroundRun(block_for(cluster, job_watch_timeout_seconds=1))
    job = wait_for(lambda: cluster.live_objects("jobs"), what="the Job to be created")[0]
    cluster.serve_log("default", "endless-pod", b"still going\n")
    start_pod(core, job, "endless-pod")
    set_phase(core, "default", "endless-pod", "Running")

    assert run.join().status_code == -1
    assert f"Job {job['metadata']['name']} did not finish within 1s" in capfd.readouterr().out


def test_the_kubeconfig_is_a_secret_field_masked_where_it_holds_credentials() -> None:
    kubeconfig = {
        "current-context": "prod",
        "users": [{"name": "deployer", "user": {"token": "tok-123", "client-key-data": "a2V5"}}],
    }
    block = KubernetesJob(cluster_config=KubernetesClusterConfig(config=kubeconfig))
    assert KubernetesJob.secret_fields() == ["cluster_config.config"]
    shown = block.data()["cluster_config"]["config"]
    assert shown["users"][0] == {"name": "deployer", "user": {"token": "********", "client-key-data": "********"}}
    assert shown["current-context"] == "prod"
    assert block.data(include_secrets=True)["cluster_config"]["config"] == kubeconfig
