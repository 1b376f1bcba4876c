{{/*
Helpers shared by the templates. Object names are fixed (not prefixed with the
release name): the engine's rules, the exporter's --notify-url and the docs
name the Services, and they are the same as deploy/kubernetes'.
*/}}

{{/* The chart label value: name-version. */}}
{{- define "hollowtrees.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels of every object: the component's name (as in deploy/kubernetes), part-of,
and Helm's bookkeeping. Call with (dict "ctx" $ "name" "component-name").
*/}}
{{- define "hollowtrees.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: hollowtrees
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "hollowtrees.chart" .ctx }}
{{- end -}}

{{/*
Selector labels: the component's name only, as in deploy/kubernetes, so that
workloads applied with `kubectl apply -k deploy/kubernetes` can be taken over
(selectors cannot change).
*/}}
{{- define "hollowtrees.selectorLabels" -}}
app.kubernetes.io/name: {{ . }}
{{- end -}}

{{/*
The metadata of a pod template: selector labels plus the component's
podLabels, and its podAnnotations. Call with (dict "name" N "values" V
"annotations" EXTRA) where EXTRA is an optional map of more annotations.
*/}}
{{- define "hollowtrees.podMetadata" -}}
{{- $annotations := merge (dict) (.annotations | default dict) (.values.podAnnotations | default dict) -}}
{{- if $annotations }}
annotations:
  {{- toYaml $annotations | nindent 2 }}
{{- end }}
labels:
  {{- include "hollowtrees.selectorLabels" .name | nindent 2 }}
  {{- with .values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The Hollowtrees image: repository:tag, the tag defaulting to appVersion. */}}
{{- define "hollowtrees.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The pod securityContext. Call with (dict "ctx" $ "fsGroup" true) to add
fsGroup (= runAsGroup unless set) for pods that write a volume or read a
projected token.
*/}}
{{- define "hollowtrees.podSecurityContext" -}}
{{- $sc := deepCopy .ctx.Values.podSecurityContext -}}
{{- if and .fsGroup (not (hasKey $sc "fsGroup")) -}}
{{- $_ := set $sc "fsGroup" ($sc.runAsGroup | default $sc.runAsUser) -}}
{{- end -}}
{{- toYaml $sc -}}
{{- end -}}

{{/* The containers' securityContext: no privilege escalation, read-only root, no capabilities. */}}
{{- define "hollowtrees.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/*
The scheduling part of a pod spec: imagePullSecrets, nodeSelector, affinity,
tolerations. Call with (dict "ctx" $ "values" V).
*/}}
{{- define "hollowtrees.scheduling" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* --log-level (only when logLevel is set) and --log-format, for the plugins, exporter and webhook. */}}
{{- define "hollowtrees.logArgs" -}}
{{- if .Values.logLevel }}
- --log-level={{ .Values.logLevel }}
{{- end }}
- --log-format={{ .Values.logFormat }}
{{- end -}}

{{/* The engine Service's address inside the cluster. */}}
{{- define "hollowtrees.engineAddress" -}}
{{- printf "hollowtrees.%s.svc:9092" .Release.Namespace -}}
{{- end -}}

{{/* The namespace of the spot deploy ConfigMap. */}}
{{- define "hollowtrees.webhookConfigMapNamespace" -}}
{{- .Values.webhook.configMap.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* The webhook's TLS Secret: cert-manager's, or the existing one. */}}
{{- define "hollowtrees.webhookTLSSecret" -}}
{{- if .Values.webhook.tls.certManager.enabled -}}
spot-config-webhook-tls
{{- else -}}
{{- required "webhook.tls.existingSecret is required when webhook.tls.certManager.enabled is false" .Values.webhook.tls.existingSecret -}}
{{- end -}}
{{- end -}}

{{/*
A PodDisruptionBudget for a workload of more than one replica (none for one:
see podDisruptionBudget in values.yaml). Call with (dict "ctx" $ "name" N
"replicas" R), and "maxUnavailable" M for a budget of M pods down at a time
instead of podDisruptionBudget.minAvailable up.
*/}}
{{- define "hollowtrees.pdb" -}}
{{- if and .ctx.Values.podDisruptionBudget.enabled (gt (int .replicas) 1) }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "hollowtrees.labels" (dict "ctx" .ctx "name" .name) | nindent 4 }}
spec:
  {{- if .maxUnavailable }}
  maxUnavailable: {{ .maxUnavailable }}
  {{- else }}
  minAvailable: {{ .ctx.Values.podDisruptionBudget.minAvailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "hollowtrees.selectorLabels" .name | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
True ("true") when the engine runs in its high availability mode: more than
one replica, rules.yaml's `ha:`, state in the Kubernetes API.
*/}}
{{- define "hollowtrees.engineHA" -}}
{{- if gt (int .Values.engine.replicas) 1 }}true{{ end -}}
{{- end -}}

{{/*
The engine's rules.yaml, top-level keys in the order of docs/rules.md. Call
with (dict "ctx" $ "plugins" LIST "rules" LIST). With more than one replica,
`ha:`: the Lease and the shared state in the release's namespace, the
identity from POD_NAME (the StatefulSet sets it), in-cluster credentials (the
ServiceAccount hollowtrees), and the timings of engine.ha when set.
*/}}
{{- define "hollowtrees.engineConfig" -}}
listen: "0.0.0.0:9092"
data_dir: "/var/lib/hollowtrees"
log:
  level: {{ .ctx.Values.logLevel | default "info" }}
  format: {{ .ctx.Values.logFormat }}
{{- with .ctx.Values.engine.intake }}
intake:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.engine.sources }}
sources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if include "hollowtrees.engineHA" .ctx }}
{{- $ha := .ctx.Values.engine.ha | default dict }}
ha:
  namespace: {{ .ctx.Release.Namespace | quote }}
  lease_name: "hollowtrees-engine"
  {{- with $ha.leaseDuration }}
  lease_duration: {{ . | quote }}
  {{- end }}
  {{- with $ha.renewDeadline }}
  renew_deadline: {{ . | quote }}
  {{- end }}
  {{- with $ha.retryPeriod }}
  retry_period: {{ . | quote }}
  {{- end }}
{{- end }}
action_plugins:
  {{- toYaml .plugins | nindent 2 }}
rules:
  {{- toYaml .rules | nindent 2 }}
{{- end -}}

{{/*
The second scheduler's KubeSchedulerConfiguration: its only profile is
webhook.scheduler.name, and the extender is the sidecar on loopback.
*/}}
{{- define "hollowtrees.schedulerConfig" -}}
{{- $s := .Values.webhook.scheduler -}}
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: true
  resourceName: {{ $s.name }}
  resourceNamespace: {{ .Release.Namespace }}
profiles:
  - schedulerName: {{ $s.name }}
extenders:
  - urlPrefix: "https://127.0.0.1:8444"
    filterVerb: filter
    prioritizeVerb: prioritize
    weight: {{ $s.extenderWeight }}
    enableHTTPS: true
    tlsConfig:
      caFile: /etc/spot-config-webhook/tls/ca.crt
    httpTimeout: {{ $s.extenderTimeout }}
    # Full Node objects are sent: capacity labels need no lookup.
    nodeCacheCapable: false
    # Not ignorable: without the extender, annotated pods wait rather than
    # land on spot and break their on-demand share.
    ignorable: false
{{- end -}}
