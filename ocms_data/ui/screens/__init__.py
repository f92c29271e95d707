"""The screens: what a page shows, one module per screen or small family of screens; pages/ only call them."""
