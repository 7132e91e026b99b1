# The copy-heavy scenario of ../shared/bench without its RUN steps (kiln has
# no RUN yet): two large COPY steps from a generated 189 MB, 20,000-file context.
ARG BASE
FROM ${BASE}
COPY assets /app/assets
COPY src /app/src
CMD ["/bin/sh"]
