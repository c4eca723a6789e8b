"""One route table for every runtime: `[workspace.metadata.lambda.watch.router]` in
Cargo.toml (read by the project's emulator and by `cargo lambda watch`) must name exactly
the HttpApi routes of template.yaml (API Gateway in AWS), function for function."""

from __future__ import annotations

import tomllib

import yaml

from conftest import ROOT

# Paths only the local runtimes serve: the benchmark's do-nothing function.
LOCAL_ONLY = {"/bench/floor"}
CATCH_ALL = "/{*path}"


class CloudFormationLoader(yaml.SafeLoader):
    """Reads template.yaml's short-form intrinsic functions (!Ref, !Sub, ...) as plain values."""


CloudFormationLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
)


def router_table() -> dict[str, str]:
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]


def template_routes() -> dict[str, str]:
    """Path -> binary of every HttpApi event; `$default` for an event without a path."""
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)
    routes = {}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "HttpApi":
                path = event["Properties"].get("Path", "$default")
                assert path not in routes, f"{path} is routed twice in template.yaml"
                routes[path] = binary
    return routes


def test_template_and_router_table_route_the_same_paths_to_the_same_functions():
    table = router_table()
    single_slash = {path: fn for path, fn in table.items() if not path.startswith("//") and path != CATCH_ALL}
    expected = {path: fn for path, fn in single_slash.items() if path not in LOCAL_ONLY}
    expected["$default"] = table[CATCH_ALL]
    assert template_routes() == expected


def test_every_doubled_spelling_in_the_table_names_the_single_slash_route_s_function():
    # `cargo lambda watch` matches paths literally, so the table spells the app's `//api/...`
    # out; the project's emulator folds any run of leading slashes itself.
    table = router_table()
    for path, function in table.items():
        if path.startswith("//"):
            assert table["/" + path.lstrip("/")] == function, path
