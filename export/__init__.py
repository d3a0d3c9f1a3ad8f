"""Every file the pack reads or writes for a user: Bevy exports, sheets, images; paths confined to allowed roots."""
