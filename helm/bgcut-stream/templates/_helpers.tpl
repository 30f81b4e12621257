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
