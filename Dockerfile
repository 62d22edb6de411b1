# uhd-telephony: the service (AMI call tracking, tickets, agent console, /metrics), as docker-compose.yml runs it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY uhd_telephony ./uhd_telephony
# the package the way the README installs it: pip install of the project
RUN pip install . && rm -rf /src

# espeak-ng speaks a declared major incident's announcement for the callers (uhd_telephony/incidents/prompt.py)
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --create-home --home-dir /home/uhd --shell /usr/sbin/nologin uhd
USER uhd
WORKDIR /home/uhd
# the announcements' folder (UHD_INCIDENT_SOUNDS_DIR): a new volume mounted here takes its owner, uhd
RUN mkdir -p /home/uhd/incident-sounds

# inside a container the console must listen beyond loopback; docker-compose.yml publishes the port
ENV UHD_HTTP_HOST=0.0.0.0 \
    UHD_HTTP_PORT=8080
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

CMD ["uhd-telephony", "run"]
