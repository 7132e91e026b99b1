#!/bin/sh
# Serves $SITE_DIR with busybox httpd (when the image has busybox).
exec httpd -f -p "${2:-8080}" -h "$SITE_DIR"
