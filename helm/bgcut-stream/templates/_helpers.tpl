{{- define "bgcut.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bgcut.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bgcut.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bgcut.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bgcut.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "bgcut.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "bgcut.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bgcut.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bgcut.apiSecretName" -}}
{{- default (printf "%s-api" (include "bgcut.fullname" .)) .Values.api.existingSecret -}}
{{- end -}}

{{/* Replicas are never above the partition count: extra consumers would sit idle. */}}
{{- define "bgcut.maxReplicas" -}}
{{- $max := .max | int -}}
{{- $partitions := .partitions | int -}}
{{- if gt $max $partitions -}}{{ $partitions }}{{- else -}}{{ $max }}{{- end -}}
{{- end -}}

{{/* librdkafka settings: what kafka.sasl / kafka.tls imply, overlaid by kafka.config (never dropped). */}}
{{- define "bgcut.kafkaConfig" -}}
{{- $k := .Values.kafka -}}
{{- $implied := dict -}}
{{- if and $k.sasl.enabled $k.tls.enabled -}}
{{- $_ := set $implied "security.protocol" "SASL_SSL" -}}
{{- else if $k.sasl.enabled -}}
{{- $_ := set $implied "security.protocol" "SASL_PLAINTEXT" -}}
{{- else if $k.tls.enabled -}}
{{- $_ := set $implied "security.protocol" "SSL" -}}
{{- end -}}
{{- if $k.sasl.enabled -}}
{{- $_ := set $implied "sasl.mechanism" $k.sasl.mechanism -}}
{{- end -}}
{{- if and $k.tls.enabled $k.tls.caKey -}}
{{- $_ := set $implied "ssl.ca.location" "/etc/bgcut/kafka-tls/ca.crt" -}}
{{- end -}}
{{- merge (deepCopy ($k.config | default dict)) $implied | toJson -}}
{{- end -}}

{{/* Where the API key Secret is mounted; BGCUT_API_API_KEY_FILE points at its "api-key". */}}
{{- define "bgcut.apiKeyDir" -}}/var/run/secrets/bgcut/api{{- end -}}

{{/* A digest of a Secret the chart does not own (live object on install/upgrade; empty in `helm template`). */}}
{{- define "bgcut.secretDigest" -}}
{{- $secret := lookup "v1" "Secret" .namespace .name -}}
{{- if $secret }}{{ $secret.data | toJson | sha256sum }}{{ else }}{{ .name | sha256sum }}{{ end -}}
{{- end -}}
