#!/bin/bash
# HEALTHCHECK for the sluice image: GET /healthz on $SLUICE_HTTP_ADDR with
# bash's /dev/tcp (the slim image has no curl or wget). Exit 0 on a 200.
addr=${SLUICE_HTTP_ADDR:-127.0.0.1:9464}
port=${addr##*:}
host=${addr%:*}
host=${host#[}
host=${host%]}
case $host in
"" | 0.0.0.0 | "*") host=127.0.0.1 ;;
"::") host=::1 ;;
esac
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
IFS=' ' read -r -t 3 _proto status _rest <&3 || exit 1
[ "$status" = 200 ]
