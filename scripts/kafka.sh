#!/usr/bin/env bash
# Shortcut for infra/kafka-local/kafka.sh: start|stop|restart|status|classpath.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../infra/kafka-local/kafka.sh" "$@"
