from .fp32_deform_attn import patch_deformable_attention

patch_deformable_attention()

__all__ = ['patch_deformable_attention']
