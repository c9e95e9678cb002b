# specdrop %postun: restart after an upgrade; on removal, reload units.
# RPM has no purge: /var/lib/specdrop (the ledger) stays, as does the user.
if command -v systemctl >/dev/null; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart specdrop.service >/dev/null 2>&1 || :
    fi
fi
exit 0
