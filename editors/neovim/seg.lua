-- segal-dsl in Neovim 0.10+ (docs/editor.md): put this file in ~/.config/nvim/plugin/ (or require it).
vim.filetype.add({ extension = { seg = "seg" } })

vim.api.nvim_create_autocmd("FileType", {
  pattern = "seg",
  callback = function(args)
    vim.bo[args.buf].commentstring = "# %s"
    vim.lsp.start({
      name = "segal",
      cmd = { vim.g.segal_command or "segal", "lsp" },
      root_dir = vim.fs.root(args.buf, { ".git" }) or vim.fn.getcwd(),
    })
  end,
})
