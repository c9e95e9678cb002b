# specdrop %post: state and log folders; the unit enabled, not started
# (the config needs editing first).
install -d -o specdrop -g specdrop -m 0750 /var/lib/specdrop /var/log/specdrop
chgrp specdrop /etc/specdrop /etc/specdrop/specdrop.toml
chmod 0750 /etc/specdrop
chmod 0640 /etc/specdrop/specdrop.toml
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null; then
    systemctl enable specdrop.service >/dev/null 2>&1 || :
    echo "specdrop: edit /etc/specdrop/specdrop.toml, run 'specdrop check', then 'systemctl start specdrop'"
fi
exit 0
