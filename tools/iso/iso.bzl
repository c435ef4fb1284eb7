"""usb_iso: bty's hybrid USB/CD live medium, built by //tools/iso."""

def _usb_iso_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out)
    args = ctx.actions.args()
    args.add("-out", out)
    args.add("-kernel", ctx.file.kernel)
    args.add("-initrd", ctx.file.initrd)
    args.add("-squashfs", ctx.file.squashfs)
    args.add("-shim", ctx.file.shim)
    args.add("-loader", ctx.file.loader)
    args.add("-isolinux", ctx.file.isolinux)
    args.add("-ldlinux", ctx.file.ldlinux)
    args.add("-mbr", ctx.file.mbr)
    args.add("-version", ctx.attr.version)
    args.add("-cmdline", ctx.attr.cmdline)
    args.add("-images-mib", ctx.attr.images_mib)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = [
            ctx.file.kernel,
            ctx.file.initrd,
            ctx.file.squashfs,
            ctx.file.shim,
            ctx.file.loader,
            ctx.file.isolinux,
            ctx.file.ldlinux,
            ctx.file.mbr,
        ],
        outputs = [out],
        mnemonic = "UsbIso",
        progress_message = "Building the USB live medium %{output}",
        env = {"SOURCE_DATE_EPOCH": str(ctx.attr.source_date_epoch)},
    )
    return [DefaultInfo(files = depset([out]))]

usb_iso = rule(
    implementation = _usb_iso_impl,
    doc = "A hybrid ISO 9660 / GPT image: boots from CD and, written with dd, from a USB stick; UEFI (Secure Boot too) and BIOS.",
    attrs = {
        "cmdline": attr.string(mandatory = True, doc = "The kernel command line of the boot entry."),
        "images_mib": attr.int(default = 32, doc = "Size of the BTY_IMAGES partition in MiB (grown on first boot)."),
        "initrd": attr.label(allow_single_file = True, mandatory = True, doc = "The live initrd."),
        "kernel": attr.label(allow_single_file = True, mandatory = True, doc = "The live kernel (EFI stub)."),
        "isolinux": attr.label(allow_single_file = True, mandatory = True, doc = "The BIOS boot loader: ISOLINUX's isolinux.bin."),
        "ldlinux": attr.label(allow_single_file = True, mandatory = True, doc = "ISOLINUX's second part: syslinux's BIOS ldlinux.c32."),
        "loader": attr.label(allow_single_file = True, mandatory = True, doc = "The EFI boot loader shim starts: systemd-boot's systemd-bootx64.efi, signed by Debian."),
        "mbr": attr.label(allow_single_file = True, mandatory = True, doc = "The hybrid MBR code for BIOS USB boots: ISOLINUX's isohdpfx.bin."),
        "out": attr.string(mandatory = True, doc = "Output file name."),
        "shim": attr.label(allow_single_file = True, mandatory = True, doc = "The first-stage EFI loader, signed by Microsoft's UEFI CA: Debian's shimx64.efi."),
        "source_date_epoch": attr.int(default = 315532800, doc = "Every date and derived id in the image comes from this time."),
        "squashfs": attr.label(allow_single_file = True, mandatory = True, doc = "The live squashfs."),
        "version": attr.string(mandatory = True, doc = "bty's version: the volume id and the boot entry's title."),
        "_tool": attr.label(default = "//tools/iso", executable = True, cfg = "exec"),
    },
)
