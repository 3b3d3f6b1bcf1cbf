"""deploy/: the Kubernetes manifests validate against Kubernetes' own schemas and refer to one another
consistently, the systemd units pass `systemd-analyze verify`, the nginx site passes `nginx -t`, and every
setting they set is one the processes read. Written and linted here, not run (docs/deploy.md)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import PROJECT_ROOT, HubSettings

DEPLOY = PROJECT_ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes still commonly run; the manifests use nothing newer
SETTINGS = {name.upper() for name in HubSettings.model_fields}
RASA_ENDPOINT_VARS = {"POSTGRES_HOST", "POSTGRES_USER", "POSTGRES_PASSWORD", "REDIS_HOST", "REDIS_PASSWORD"}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in _documents() if d["kind"] == kind}


def test_every_manifest_validates_against_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    docs = _documents()
    assert {d["kind"] for _, d in docs} >= {"Deployment", "Service", "Ingress", "ConfigMap", "Secret",
                                            "PodDisruptionBudget"}
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # strict: a misspelt field is an error
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc.message} "
                                 f"at {'.'.join(map(str, exc.path))}") from None


def test_the_kustomization_applies_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)


def test_deployments_services_and_ingress_fit_together() -> None:
    deployments, services = _by_kind("Deployment"), _by_kind("Service")
    assert set(deployments) == {"supportbot-hub", "supportbot-rasa", "supportbot-actions"}
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items(), name
        assert dep["spec"]["replicas"] >= 2, f"{name}: two of everything"
        service = services[name]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items(), name
        container = pod["spec"]["containers"][0]
        port_names = {p["name"] for p in container["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
        for ref in container.get("envFrom", []):
            kind, target = next(iter(ref.items()))
            pool = _by_kind("ConfigMap" if kind == "configMapRef" else "Secret")
            assert target["name"] in pool, f"{name} reads a missing {kind} {target['name']}"
        for probe in ("livenessProbe", "readinessProbe"):
            assert probe in container, f"{name} has no {probe}"

    hub = deployments["supportbot-hub"]["spec"]["template"]["spec"]["containers"][0]
    assert hub["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert hub["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "--proxy-headers" in hub["command"]
    ingress = _by_kind("Ingress")["supportbot"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "supportbot-hub" and backend["port"]["name"] in {p["name"] for p in hub["ports"]}
    # idle WebSockets (web chat, console) stay open through the ingress
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


def test_every_setting_in_the_manifests_is_one_the_processes_read() -> None:
    config = _by_kind("ConfigMap")["supportbot-config"]["data"]
    secret = _by_kind("Secret")["supportbot-secrets"]["stringData"]
    unknown = (set(config) - {"endpoints.yml"} | set(secret)) - SETTINGS - RASA_ENDPOINT_VARS
    assert not unknown, f"not settings of core/settings.py: {sorted(unknown)}"
    assert {"SESSION_SECRET", "RASA_AUTH_TOKEN", "DATABASE_URL", "REDIS_URL"} <= set(secret)
    endpoints = yaml.safe_load(config["endpoints.yml"])
    assert endpoints["tracker_store"]["type"] == "SQL" and endpoints["tracker_store"]["dialect"] == "postgresql"
    assert endpoints["lock_store"]["type"] == "redis"
    assert endpoints["action_endpoint"]["url"] == config["ACTION_URL"]
    env = dict(line.split("=", 1) for line in (DEPLOY / "systemd" / "supportbot.env.example").read_text().splitlines()
               if line.strip() and not line.startswith("#"))
    assert set(env) - SETTINGS == set()
    HubSettings.from_env(**{k.lower(): v for k, v in env.items()})  # and they are valid values


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: run `make test-deps`")
    units = sorted((DEPLOY / "systemd").glob("supportbot*.service")) + [DEPLOY / "systemd" / "supportbot.target"]
    for unit in units:  # the install folder is /opt/supportbot; here the checkout stands in for it
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/supportbot", str(PROJECT_ROOT)))
    names = [f"./{u.name.replace('@.', '@8001.')}" for u in units]
    proc = subprocess.run([analyze, "verify", "--man=no", *names], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    # verify only warns about unknown keys: any message at all is a defect
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr


def test_the_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists() or shutil.which("openssl") is None:
        pytest.skip("nginx or openssl is not installed: run `make test-deps`")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=support.example.com",
                    "-days", "1", "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True)
    site = ((DEPLOY / "nginx" / "supportbot.conf").read_text()
            .replace("/etc/nginx/snippets/supportbot-proxy.conf", str(DEPLOY / "nginx" / "supportbot-proxy.conf"))
            .replace("/etc/ssl/certs/support.example.com.pem", str(tmp_path / "cert.pem"))
            .replace("/etc/ssl/private/support.example.com.key", str(tmp_path / "key.pem"))
            .replace("listen 80;", "listen 127.0.0.1:1;").replace("listen 443 ", "listen 127.0.0.1:2 "))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n client_body_temp_path {tmp_path};\n proxy_temp_path {tmp_path};\n"
        f" include {tmp_path}/site.conf;\n}}\n")
    proc = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Upgrade $http_upgrade" in (DEPLOY / "nginx" / "supportbot-proxy.conf").read_text()
