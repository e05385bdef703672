# Computed from ARCH, so not a plain default: dibpy port keeps this file, and it is
# still sourced for the element's scripts.
if [[ "arm64 aarch64" =~ ${ARCH} ]]; then
    export DIB_HELLO_PLATFORM=arm
else
    export DIB_HELLO_PLATFORM=other
fi
