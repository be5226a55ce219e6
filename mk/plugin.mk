# Build one service plugin: set NAME and SRCS (paths from the top) before including this.
.PHONY: all clean install uninstall
all: $(O)/services/$(NAME).so

$(O)/services/$(NAME).so: $(call obj,$(SRCS))
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -shared $(LDFLAGS) -o $@ $^ $(PLUGIN_LIBS)

install: all
	install -d $(DESTDIR)$(PLUGINDIR)
	install -m 0644 $(O)/services/$(NAME).so $(DESTDIR)$(PLUGINDIR)/

uninstall:
	rm -f $(DESTDIR)$(PLUGINDIR)/$(NAME).so

clean:
	rm -f $(O)/services/$(NAME).so
