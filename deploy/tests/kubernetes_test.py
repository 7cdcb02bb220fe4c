#!/usr/bin/python3
"""Checks deploy/kubernetes the way an API server and a reviewer would,
without a cluster (Debian has no kubeconform): every document's apiVersion,
kind and names; selectors that match their pod templates; Services, probes
and the Ingress pointing at ports that exist; ConfigMaps, Secrets and their
keys that exist; resources and a locked-down securityContext on every
container; every command-line flag accepted by the real binary
(`--helpfull`); kustomization listing every file; the catalogue ConfigMap
equal to deploy/catalogue/aos.textproto. First proves that broken
manifests are caught.

    kubernetes_test.py <repo-root> <build-dir>
"""
import copy
import glob
import os
import re
import subprocess
import sys

import yaml

API_VERSIONS = {
    "Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
    "Deployment": "apps/v1", "Ingress": "networking.k8s.io/v1",
}
BINARIES = {  # image name -> binary in the build
    "collector": "collector/relayscope-collector",
    "dashboard": "dashboard-api/relayscope-dashboard",
    "relay": "relay/relayscope-relay",
}


def flags_of(binary, cache={}):
    if binary not in cache:
        out = subprocess.run([binary, "--helpfull"], capture_output=True, text=True).stdout
        out += subprocess.run([binary, "--helpfull"], capture_output=True, text=True).stderr
        cache[binary] = set(re.findall(r"^\s+--([a-z0-9_]+) ", out, re.M))
    return cache[binary]


def container_ports(container):
    names, numbers = set(), set()
    for port in container.get("ports", []):
        numbers.add(port["containerPort"])
        if "name" in port:
            names.add(port["name"])
    return names, numbers


def port_exists(ref, names, numbers):
    return ref in names if isinstance(ref, str) else ref in numbers


def check(docs, build, catalogue_text=None, files=None, kustomization=None):
    """Returns the list of problems found in the parsed documents."""
    errors = []
    by_kind = {}
    for doc in docs:
        kind = doc.get("kind")
        name = doc.get("metadata", {}).get("name")
        where = f"{kind}/{name}"
        if kind not in API_VERSIONS:
            errors.append(f"{where}: unknown kind")
            continue
        if doc.get("apiVersion") != API_VERSIONS[kind]:
            errors.append(f"{where}: apiVersion {doc.get('apiVersion')}, want {API_VERSIONS[kind]}")
        if not name or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
            errors.append(f"{where}: metadata.name is not a DNS name")
        if kind != "Namespace" and doc["metadata"].get("namespace") != "relayscope":
            errors.append(f"{where}: not in namespace relayscope")
        by_kind.setdefault(kind, {})[name] = doc

    secret_keys = {n: set(d.get("stringData", {})) | set(d.get("data", {}))
                   for n, d in by_kind.get("Secret", {}).items()}
    config_keys = {n: set(d.get("data", {})) for n, d in by_kind.get("ConfigMap", {}).items()}
    templates = {}  # deployment -> (labels, containers)

    for name, dep in by_kind.get("Deployment", {}).items():
        where = f"Deployment/{name}"
        spec = dep.get("spec", {})
        template = spec.get("template", {})
        labels = template.get("metadata", {}).get("labels", {})
        selector = spec.get("selector", {}).get("matchLabels", {})
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            errors.append(f"{where}: selector {selector} does not match template labels {labels}")
        pod = template.get("spec", {})
        pod_security = pod.get("securityContext", {})
        if not pod_security.get("runAsNonRoot"):
            errors.append(f"{where}: pod does not set runAsNonRoot")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for volume in volumes.values():
            if "configMap" in volume and volume["configMap"]["name"] not in config_keys:
                errors.append(f"{where}: volume {volume['name']}: no ConfigMap {volume['configMap']['name']}")
            if "secret" in volume:
                secret = volume["secret"]["secretName"]
                if secret not in secret_keys:
                    errors.append(f"{where}: volume {volume['name']}: no Secret {secret}")
                for item in volume["secret"].get("items", []):
                    if item["key"] not in secret_keys.get(secret, set()):
                        errors.append(f"{where}: Secret {secret} has no key {item['key']}")
        containers = pod.get("containers", [])
        if not containers:
            errors.append(f"{where}: no containers")
        templates[name] = (labels, containers)
        for c in containers:
            cwhere = f"{where}/{c.get('name')}"
            if not c.get("image"):
                errors.append(f"{cwhere}: no image")
            resources = c.get("resources", {})
            for key in ("cpu", "memory"):
                if key not in resources.get("requests", {}):
                    errors.append(f"{cwhere}: no {key} request")
            if "memory" not in resources.get("limits", {}):
                errors.append(f"{cwhere}: no memory limit")
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{cwhere}: allowPrivilegeEscalation is not false")
            if sc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{cwhere}: root filesystem is writable")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                errors.append(f"{cwhere}: capabilities not dropped")
            names, numbers = container_ports(c)
            for probe_name in ("readinessProbe", "livenessProbe"):
                probe = c.get(probe_name)
                if not probe:
                    errors.append(f"{cwhere}: no {probe_name}")
                    continue
                for kind in ("grpc", "httpGet", "tcpSocket"):
                    if kind in probe and not port_exists(probe[kind]["port"], names, numbers):
                        errors.append(f"{cwhere}: {probe_name} port {probe[kind]['port']} is not a container port")
            for mount in c.get("volumeMounts", []):
                if mount["name"] not in volumes:
                    errors.append(f"{cwhere}: mounts unknown volume {mount['name']}")
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] not in secret_keys.get(ref["name"], set()):
                    errors.append(f"{cwhere}: env {env['name']}: no key {ref['key']} in Secret {ref['name']}")
            image = c.get("image", "").rsplit("/", 1)[-1].split(":")[0]
            if image not in BINARIES:
                errors.append(f"{cwhere}: image {image} is none of ours")
                continue
            known = flags_of(os.path.join(build, BINARIES[image]))
            for arg in c.get("args", []):
                flag = re.match(r"--([a-z0-9-_]+)", arg)
                if not flag or flag.group(1).replace("-", "_") not in known:
                    errors.append(f"{cwhere}: {BINARIES[image]} has no flag for {arg!r}")
            if image == "collector":
                for arg in c.get("args", []):
                    if arg.startswith("--store=") and re.search(r"//[^/@]*:[^/@]*@", arg):
                        errors.append(f"{cwhere}: a password in the store URL")

    def service_targets(where, selector):
        matched = [n for n, (labels, _) in templates.items()
                   if selector and all(labels.get(k) == v for k, v in selector.items())]
        if not matched:
            errors.append(f"{where}: selector {selector} matches no Deployment")
        return matched

    services = by_kind.get("Service", {})
    for name, svc in services.items():
        where = f"Service/{name}"
        matched = service_targets(where, svc.get("spec", {}).get("selector", {}))
        for port in svc["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for dep in matched:
                ok = any(port_exists(target, *container_ports(c)) for c in templates[dep][1])
                if not ok:
                    errors.append(f"{where}: targetPort {target} is no port of {dep}")
    for name, ing in by_kind.get("Ingress", {}).items():
        for rule in ing["spec"].get("rules", []):
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                svc = services.get(backend["name"])
                if svc is None:
                    errors.append(f"Ingress/{name}: no Service {backend['name']}")
                elif backend["port"].get("name") not in {p.get("name") for p in svc["spec"]["ports"]}:
                    errors.append(f"Ingress/{name}: Service {backend['name']} has no port {backend['port']}")
    if catalogue_text is not None:
        cm = by_kind.get("ConfigMap", {}).get("relayscope-catalogue", {})
        if cm.get("data", {}).get("catalogue.textproto") != catalogue_text:
            errors.append("ConfigMap/relayscope-catalogue differs from deploy/catalogue/aos.textproto")
    if kustomization is not None and sorted(kustomization.get("resources", [])) != sorted(files):
        errors.append(f"kustomization.yaml lists {kustomization.get('resources')}, the files are {files}")
    return errors


def main():
    root, build = sys.argv[1], sys.argv[2]
    directory = os.path.join(root, "deploy", "kubernetes")
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.yaml"))
                   if not p.endswith("kustomization.yaml"))
    docs = []
    for f in files:
        with open(os.path.join(directory, f)) as stream:
            docs += [d for d in yaml.safe_load_all(stream) if d]
    with open(os.path.join(directory, "kustomization.yaml")) as stream:
        kustomization = yaml.safe_load(stream)
    with open(os.path.join(root, "deploy", "catalogue", "aos.textproto")) as stream:
        catalogue = stream.read()

    # The checker catches what it should: each mutation must be reported.
    def mutated(change):
        broken = copy.deepcopy(docs)
        change({(d["kind"], d["metadata"]["name"]): d for d in broken})
        return broken
    deployment = ("Deployment", "relayscope-collector")
    mutations = {
        "selector": lambda d: d[deployment]["spec"]["selector"]["matchLabels"].update(x="y"),
        "probe port": lambda d: d[deployment]["spec"]["template"]["spec"]["containers"][0]
                                 ["readinessProbe"]["grpc"].update(port=1),
        "flag": lambda d: d[deployment]["spec"]["template"]["spec"]["containers"][0]["args"]
                          .append("--no-such-flag=1"),
        "secret key": lambda d: d[("Secret", "relayscope-secrets")]["stringData"].pop("pgpassword"),
        "privileges": lambda d: d[deployment]["spec"]["template"]["spec"]["containers"][0]
                                ["securityContext"].update(allowPrivilegeEscalation=True),
        "service port": lambda d: d[("Service", "relayscope-dashboard")]["spec"]["ports"][0]
                                  .update(targetPort="nope"),
    }
    failed = False
    for what, change in mutations.items():
        if not check(mutated(change), build):
            print(f"FAIL: a broken {what} was not caught")
            failed = True

    errors = check(docs, build, catalogue, files, kustomization)
    for e in errors:
        print(f"FAIL: {e}")
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    print(f"checked {len(docs)} documents: {', '.join(kinds)}")
    return 1 if errors or failed else 0


if __name__ == "__main__":
    sys.exit(main())
