# Plain defaults: dibpy port turns these into ENVIRONMENT.
export DIB_HELLO_GREETING=${DIB_HELLO_GREETING:-"Hello from hello-legacy"}
export DIB_HELLO_MOTD_MODE=${DIB_HELLO_MOTD_MODE:-0644}
