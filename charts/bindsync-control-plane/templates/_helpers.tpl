{{/* Labels of every object: the same app.kubernetes.io/name and component
as config/backend, plus Helm's own. */}}
{{- define "bindsync-control-plane.labels" -}}
app.kubernetes.io/name: bindsync
app.kubernetes.io/component: backend
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "bindsync-control-plane.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
