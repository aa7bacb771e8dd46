"""k8s/, validated offline: the kustomizations rendered by kustomize (built into kubectl), every
object checked with kubernetes-validate --strict, and the policies this project holds itself to
(locked-down pods, probes, resources, network paths, booking's autoscaling)."""

from __future__ import annotations

import copy
import re

import kubernetes_validate
import pytest
from deploy_support import (
    REPO,
    SERVICES,
    allowed_env_vars,
    by_kind,
    load_yaml_documents,
    parse_dockerfile,
    service_dockerfile,
    service_scripts,
)

# The oldest Kubernetes we support and the newest kubernetes-validate knows: an API removed in
# between (or not there yet) fails one of the two.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version() + ".0")

# kubernetes-validate only knows built-in kinds. KEDA's custom resources, in the production
# overlay's keda-booking-worker.yaml alone, are skipped here and checked field by field in
# test_keda_scales_the_booking_worker_on_its_queue below.
CUSTOM_RESOURCES = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}

SECRETS_TEMPLATE = REPO / "k8s" / "base" / "secrets.example.yaml"


def validate_strictly(objects: list[dict]) -> list[str]:
    errors = []
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_RESOURCES:
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                errors.append(
                    f"{obj['kind']}/{obj['metadata']['name']} (k8s {version}) {where}: {exc.message}"
                )
            except kubernetes_validate.SchemaNotFoundError as exc:
                errors.append(exc.message)  # a kind we did not expect: not skipped silently
    return errors


def pod_templates(objects: list[dict]) -> dict[str, dict]:
    """The pod spec of every Deployment and Job, by '<Kind>/<name>'."""
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]
        for o in objects
        if o["kind"] in ("Deployment", "Job")
    }


def image_env(service: str) -> dict[str, str]:
    """The ENV the service image sets (final stage)."""
    instructions = parse_dockerfile(service_dockerfile(service))
    env: dict[str, str] = {}
    for i in instructions:
        if i.keyword == "ENV" and i.stage == instructions[-1].stage:
            env.update(dict(re.findall(r'(\w+)=("[^"]*"|\S+)', i.args)))
    return env


# ---- schema validation ---------------------------------------------------------------------------


def test_base_validates_strictly(base_objects):
    assert validate_strictly(base_objects) == []


def test_production_overlay_validates_strictly(production_objects):
    assert validate_strictly(production_objects) == []


def test_secrets_template_validates_strictly():
    assert validate_strictly(load_yaml_documents(SECRETS_TEMPLATE)) == []


def test_strict_validation_catches_a_mistake(base_objects):
    """Guards the checks above against passing vacuously."""
    deployment = copy.deepcopy(by_kind(base_objects, "Deployment")["booking"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    assert validate_strictly([deployment])


def test_custom_resources_only_in_the_keda_file(base_objects, production_objects):
    assert not [o for o in base_objects if (o["apiVersion"], o["kind"]) in CUSTOM_RESOURCES]
    keda_file = load_yaml_documents(REPO / "k8s" / "overlays" / "production" / "keda-booking-worker.yaml")
    assert {(o["apiVersion"], o["kind"]) for o in keda_file} == CUSTOM_RESOURCES


# ---- what each service gets ----------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_objects(base_objects, service):
    deployments = by_kind(base_objects, "Deployment")
    assert service in deployments and f"{service}-worker" in deployments
    assert f"{service}-migrate" in by_kind(base_objects, "Job")
    assert service in by_kind(base_objects, "ServiceAccount")
    assert f"{service}-config" in by_kind(base_objects, "ConfigMap")

    svc = by_kind(base_objects, "Service")[service]
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert svc["spec"]["selector"] == {
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/component": "web",
    }
    web = deployments[service]["spec"]
    assert (
        web["template"]["metadata"]["labels"] | svc["spec"]["selector"]
        == web["template"]["metadata"]["labels"]
    )
    (container,) = web["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]


@pytest.mark.parametrize("service", SERVICES)
def test_commands_are_the_service_cli(base_objects, service):
    assert f"club-{service}" in service_scripts(service)
    worker = by_kind(base_objects, "Deployment")[f"{service}-worker"]["spec"]["template"]["spec"]
    job = by_kind(base_objects, "Job")[f"{service}-migrate"]["spec"]["template"]["spec"]
    assert worker["containers"][0]["command"] == [f"club-{service}", "worker"]
    assert job["containers"][0]["command"] == [f"club-{service}", "migrate"]
    assert job["restartPolicy"] == "Never"
    web = by_kind(base_objects, "Deployment")[service]["spec"]["template"]["spec"]
    assert "command" not in web["containers"][0], "web runs the image's default CMD (gunicorn)"


def test_every_pod_is_locked_down(base_objects):
    for name, template in pod_templates(base_objects).items():
        spec = template["spec"]
        service = template["metadata"]["labels"]["app.kubernetes.io/name"]
        assert spec["serviceAccountName"] == service, name
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"]:
            assert container["image"].startswith(f"clubhouse/{service}:"), name
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) == {"cpu", "memory"}, f"{name} {kind}"
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, f"{name}: /tmp must be a writable emptyDir"


def test_pods_run_as_the_image_user(base_objects):
    users = {i.args for s in SERVICES for i in parse_dockerfile(service_dockerfile(s)) if i.keyword == "USER"}
    (user,) = users
    uid, gid = (int(x) for x in user.split(":"))
    for name, template in pod_templates(base_objects).items():
        pod = template["spec"]["securityContext"]
        assert (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid), name


@pytest.mark.parametrize("service", SERVICES)
def test_web_probes_and_metrics_dir(base_objects, service):
    spec = by_kind(base_objects, "Deployment")[service]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    # gunicorn's workers share metrics through PROMETHEUS_MULTIPROC_DIR: a fresh, writable dir
    metrics_dir = image_env(service)["PROMETHEUS_MULTIPROC_DIR"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts[metrics_dir]]


@pytest.mark.parametrize("service", SERVICES)
def test_workers_are_probed_and_scraped_on_their_metrics_port(base_objects, service):
    """The worker serves /healthz and /metrics on WORKER_METRICS_PORT (club_shared.worker)."""
    port = int(by_kind(base_objects, "ConfigMap")["club-config"]["data"]["WORKER_METRICS_PORT"])
    template = by_kind(base_objects, "Deployment")[f"{service}-worker"]["spec"]["template"]
    (container,) = template["spec"]["containers"]
    assert container["ports"] == [{"name": "metrics", "containerPort": port}]
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}, probe
    assert "readinessProbe" not in container, "no Service sends the worker traffic"
    annotations = template["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    policies = by_kind(base_objects, "NetworkPolicy")
    scrape = policies["allow-prometheus-to-workers"]["spec"]
    assert scrape["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "worker"}}
    assert scrape["ingress"][0]["ports"] == [{"protocol": "TCP", "port": port}]


# ---- configuration and secrets -------------------------------------------------------------------


def test_config_and_secret_keys_are_variables_the_code_reads(base_objects):
    allowed = allowed_env_vars()
    for name, config_map in by_kind(base_objects, "ConfigMap").items():
        unknown = set(config_map["data"]) - allowed
        assert not unknown, f"ConfigMap {name}: {sorted(unknown)}"
    for secret in load_yaml_documents(SECRETS_TEMPLATE):
        if secret["metadata"]["name"].endswith("-secrets"):
            unknown = set(secret["stringData"]) - allowed
            assert not unknown, f"Secret {secret['metadata']['name']}: {sorted(unknown)}"
    for name, template in pod_templates(base_objects).items():
        for container in template["spec"]["containers"]:
            unknown = {e["name"] for e in container.get("env", [])} - allowed
            assert not unknown, f"{name}: {sorted(unknown)}"


def test_every_referenced_config_map_and_secret_exists(base_objects):
    config_maps = by_kind(base_objects, "ConfigMap")
    template = {s["metadata"]["name"]: s for s in load_yaml_documents(SECRETS_TEMPLATE)}
    for name, pod in pod_templates(base_objects).items():
        for container in pod["spec"]["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps, name
                else:
                    assert source["secretRef"]["name"] in template, f"{name}: not in secrets.example.yaml"
        for volume in pod["spec"].get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in template, f"{name}: not in secrets.example.yaml"


def test_key_files_named_in_config_are_mounted(base_objects):
    """JWT_*_KEY_FILE must point at a file a mounted Secret provides, in every container that
    gets the variable: the settings read it when any command starts."""
    config_maps = by_kind(base_objects, "ConfigMap")
    template = {s["metadata"]["name"]: s for s in load_yaml_documents(SECRETS_TEMPLATE)}
    for name, pod in pod_templates(base_objects).items():
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for container in pod["spec"]["containers"]:
            env = {}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    env.update(config_maps[source["configMapRef"]["name"]]["data"])
            env.update({e["name"]: e["value"] for e in container.get("env", [])})
            for variable in ("JWT_PUBLIC_KEY_FILE", "JWT_PRIVATE_KEY_FILE"):
                if variable not in env:
                    continue
                directory, _, filename = env[variable].rpartition("/")
                mount = next(m for m in container["volumeMounts"] if m["mountPath"] == directory)
                secret = template[volumes[mount["name"]]["secret"]["secretName"]]
                assert filename in secret["stringData"], f"{name}: {variable}"
            assert ("JWT_PRIVATE_KEY_FILE" in env) == (name == "Deployment/membership"), (
                f"{name}: only membership's web pods sign tokens"
            )


def test_datastores_are_external_services(base_objects, production_objects):
    for objects in (base_objects, production_objects):
        services = by_kind(objects, "Service")
        for name in ("postgres", "rabbitmq"):
            assert services[name]["spec"]["type"] == "ExternalName"
    assert not by_kind(base_objects, "StatefulSet"), "no hand-rolled databases or brokers"
    production = by_kind(production_objects, "Service")
    base = by_kind(base_objects, "Service")
    for name in ("postgres", "rabbitmq"):
        assert production[name]["spec"]["externalName"] != base[name]["spec"]["externalName"]


def test_everything_is_in_the_clubhouse_namespace(base_objects, production_objects):
    for obj in [*base_objects, *production_objects, *load_yaml_documents(SECRETS_TEMPLATE)]:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "clubhouse"
            assert obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert obj["metadata"]["namespace"] == "clubhouse", obj["metadata"]["name"]


# ---- network -------------------------------------------------------------------------------------


def egress_ports(policy: dict) -> set[int]:
    return {p["port"] for rule in policy["spec"].get("egress", []) for p in rule.get("ports", [])}


def test_network_policies(base_objects):
    policies = by_kind(base_objects, "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    everyone = [p for p in policies.values() if p["spec"]["podSelector"] == {}]
    assert {53, 5432, 5672} <= set().union(*(egress_ports(p) for p in everyone))

    to_web = policies["allow-ingress-controller-to-web"]["spec"]
    assert to_web["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "web"}}
    (rule,) = to_web["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }

    https = [p for p in policies.values() if 443 in egress_ports(p)]
    assert len(https) == 1
    (expression,) = https[0]["spec"]["podSelector"]["matchExpressions"]
    assert set(expression["values"]) == {"billing", "integrations", "notifications"}


# ---- booking scales on its own -------------------------------------------------------------------


def test_booking_web_autoscales_on_cpu(base_objects):
    hpa = by_kind(base_objects, "HorizontalPodAutoscaler")["booking"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "booking"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
        }
    ]
    assert list(by_kind(base_objects, "HorizontalPodAutoscaler")) == ["booking"]


def test_autoscaled_deployments_leave_replicas_to_the_autoscaler(base_objects, production_objects):
    for objects in (base_objects, production_objects):
        deployments = by_kind(objects, "Deployment")
        assert "replicas" not in deployments["booking"]["spec"]
        assert "replicas" not in deployments["booking-worker"]["spec"]


def test_booking_has_a_disruption_budget(base_objects):
    pdb = by_kind(base_objects, "PodDisruptionBudget")["booking"]["spec"]
    web_labels = by_kind(base_objects, "Deployment")["booking"]["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= web_labels.items()
    assert pdb["minAvailable"] == 1


def test_keda_scales_the_booking_worker_on_its_queue(production_objects):
    from club_shared.bus.transport import queue_names

    scaled = by_kind(production_objects, "ScaledObject")["booking-worker"]["spec"]
    assert scaled["scaleTargetRef"]["name"] in by_kind(production_objects, "Deployment")
    assert scaled["scaleTargetRef"]["name"] == "booking-worker"
    assert 1 <= scaled["minReplicaCount"] < scaled["maxReplicaCount"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["mode"] == "QueueLength" and int(trigger["metadata"]["value"]) > 0
    namespace = by_kind(production_objects, "ConfigMap")["club-config"]["data"]["BUS_NAMESPACE"]
    assert trigger["metadata"]["queueName"] == queue_names(namespace, "booking").main

    auth = by_kind(production_objects, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    (ref,) = auth["spec"]["secretTargetRef"]
    template = {s["metadata"]["name"]: s for s in load_yaml_documents(SECRETS_TEMPLATE)}
    assert ref["parameter"] == "host" and ref["key"] in template[ref["name"]]["stringData"]


# ---- ingress and the production overlay ----------------------------------------------------------


def test_ingress_routes_only_to_web_services_on_port_80(base_objects):
    services = by_kind(base_objects, "Service")
    ingresses = by_kind(base_objects, "Ingress")
    assert ingresses, "k8s/base/ingress.yaml (generated by the gateway) is in the kustomization"
    backends = {
        (path["backend"]["service"]["name"], path["backend"]["service"]["port"]["number"])
        for ingress in ingresses.values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert {name for name, _ in backends} == set(SERVICES)
    for name, port in backends:
        assert port == 80 and services[name]["spec"]["ports"][0]["port"] == 80


def test_production_pins_released_images_and_replicas(production_objects):
    for name, template in pod_templates(production_objects).items():
        for container in template["spec"]["containers"]:
            image = container["image"]
            assert not image.startswith("clubhouse/") and not image.endswith(":dev"), f"{name}: {image}"
            assert re.search(r":[\w.-]+$|@sha256:", image), f"{name}: {image} has no tag"
    deployments = by_kind(production_objects, "Deployment")
    for service in SERVICES:
        if service != "booking":
            assert deployments[service]["spec"]["replicas"] >= 2, f"{service} web has no spare replica"
