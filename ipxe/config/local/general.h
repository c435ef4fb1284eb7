/* bty's iPXE trims: only what the chain script uses, to keep ipxe.efi small
 * (target: 1 MiB or less). Used by //ipxe:ipxe_embedded. */

#undef DOWNLOAD_PROTO_HTTPS   /* bty-web serves plain HTTP on the boot network */
#undef DOWNLOAD_PROTO_FTP
#undef SANBOOT_PROTO_ISCSI
#undef SANBOOT_PROTO_AOE
#undef SANBOOT_PROTO_IB_SRP
#undef SANBOOT_PROTO_FCP
#undef NET_PROTO_IPV6          /* IPv4 DHCP only: no IPv6 autoconf wait */
#undef NET_PROTO_FCOE
#undef NET_PROTO_STP
#undef NET_PROTO_LACP
#undef IMAGE_PNG
#undef IMAGE_ZLIB
#undef IMAGE_GZIP
#undef CONSOLE_CMD
#undef IBMGMT_CMD
#undef FCMGMT_CMD
#undef MENU_CMD
#undef LOGIN_CMD
#undef NVO_CMD
#undef CERT_CMD
#undef IMAGE_TRUST_CMD
