# specdrop %preun: on removal (not upgrade) stop and disable the unit.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null; then
    systemctl --no-reload disable --now specdrop.service >/dev/null 2>&1 || :
fi
exit 0
