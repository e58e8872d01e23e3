// The Kubernetes entry: sandboxes as pods under gVisor, created through the Kubernetes API from a runner
// pod (runner-setup/kubernetes/README.md). No dockerode here; adapters select it by the runner's
// environment (kubernetesConfigured), never by anything an experiment says.
export * from "./client.js";
export * from "./pod.js";
export * from "./provider.js";
