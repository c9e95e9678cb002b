# specdrop %pre: the system user before the files that belong to its group.
getent group specdrop >/dev/null || groupadd --system specdrop
getent passwd specdrop >/dev/null || useradd --system --gid specdrop --home-dir /var/lib/specdrop \
    --no-create-home --shell /sbin/nologin --comment "specdrop daemon" specdrop
exit 0
