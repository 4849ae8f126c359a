# The identity provider as a container image: `idp serve` (Granian, N workers) on port 8000, plain
# HTTP behind a TLS-terminating proxy. docs/deploy.md walks through the whole topology;
# compose.yaml runs it. Build: docker build -t idp .

# ---- build: the locked dependencies (hashes checked) and the package, in a venv -----------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/idp
COPY requirements/run.txt /src/requirements/run.txt
RUN /opt/idp/bin/pip install --require-hashes -r /src/requirements/run.txt
COPY pyproject.toml README.md /src/
COPY idp /src/idp
# No build isolation: the build uses setuptools as locked (and hash-checked) in run.txt, not
# whichever version an isolated build would fetch.
RUN /opt/idp/bin/pip install --no-deps --no-build-isolation /src
# The app finds its pages, stylesheet and migrations next to its package (idp.config.PROJECT_ROOT
# is the directory that holds `idp/`), which `pip install .` does not carry: put them there.
COPY templates /opt/idp/lib/python3.11/site-packages/templates
COPY static /opt/idp/lib/python3.11/site-packages/static
COPY migrations /opt/idp/lib/python3.11/site-packages/migrations
RUN /opt/idp/bin/python -m compileall -q /opt/idp/lib/python3.11/site-packages

# ---- run: the venv only, as an unprivileged user, with a read-only root -----------------------
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/idp --shell /usr/sbin/nologin idp \
    && install -d -o idp -g idp -m 0700 /var/lib/idp
COPY --from=build /opt/idp /opt/idp
# Nothing is written outside IDP_VAR_DIR (a volume: the metrics files) and /tmp (a tmpfs).
ENV PATH=/opt/idp/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IDP_VAR_DIR=/var/lib/idp \
    IDP_LOG_FORMAT=json
VOLUME ["/var/lib/idp"]
USER idp
WORKDIR /var/lib/idp
EXPOSE 8000
# Ready = the database answers and its schema is current (`idp migrate` ran): python, as the slim
# image has no curl.
HEALTHCHECK --interval=15s --timeout=4s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3).status != 200)"]
ENTRYPOINT ["idp"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
